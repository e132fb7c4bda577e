//! The lab's faults, measured with datagrams between two of its hosts: a cut link carries
//! nothing, a 30 % loss rule drops about 30 %, and removing the rule brings every datagram back.
//! Needs root (network namespaces), as CI has.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use enroll_faults::netns::Lab;

const DATAGRAMS: usize = 1000;

/// Sends `DATAGRAMS` datagrams from `from` to `to` and counts how many arrive (read as they come,
/// so the receive buffer never overflows).
fn delivered(from: &UdpSocket, to: &UdpSocket) -> usize {
    let target = to.local_addr().unwrap();
    to.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    std::thread::scope(|scope| {
        let receiver = scope.spawn(|| {
            let mut buffer = [0u8; 8];
            let mut count = 0;
            while to.recv_from(&mut buffer).is_ok() {
                count += 1;
            }
            count
        });
        for n in 0..DATAGRAMS {
            // A send into a cut link may fail at once; that datagram is lost too.
            let _ = from.send_to(&(n as u32).to_le_bytes(), target);
            if n % 20 == 19 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        receiver.join().unwrap()
    })
}

/// One datagram through, so the neighbour (ARP) entry exists: until it does the kernel holds back
/// only a few hundred datagrams and drops the rest.
fn warm_up(from: &UdpSocket, to: &UdpSocket) {
    to.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buffer = [0u8; 8];
    for _ in 0..30 {
        from.send_to(b"warm", to.local_addr().unwrap()).unwrap();
        if to.recv_from(&mut buffer).is_ok() {
            // Drain any earlier tries that arrive late.
            while to.recv_from(&mut buffer).is_ok() {}
            return;
        }
    }
    panic!("no datagram got through the link");
}

#[test]
fn a_cut_link_carries_nothing_and_a_loss_rule_drops_its_share() {
    let mut lab = Lab::new();
    let a = lab.host("a").unwrap();
    let b = lab.host("b").unwrap();
    let link = lab.link(&a, &b).unwrap();
    let sender = a
        .udp_socket(SocketAddr::new(link.first_address.into(), 0))
        .unwrap();
    let receiver = b
        .udp_socket(SocketAddr::new(link.second_address.into(), 0))
        .unwrap();

    warm_up(&sender, &receiver);
    assert_eq!(delivered(&sender, &receiver), DATAGRAMS, "a healthy link");

    link.set_loss(30).unwrap();
    let lossy = delivered(&sender, &receiver);
    println!("{lossy} of {DATAGRAMS} datagrams delivered with the 30 % loss rule");
    // 700 expected; ±5 standard deviations (about 14.5 each) still fails a rule that is not there.
    assert!(
        (630..=770).contains(&lossy),
        "{lossy} of {DATAGRAMS} with 30 % loss"
    );

    link.set_up(false).unwrap();
    assert_eq!(delivered(&sender, &receiver), 0, "a cut link");

    link.set_up(true).unwrap();
    link.set_loss(0).unwrap();
    warm_up(&sender, &receiver);
    assert_eq!(delivered(&sender, &receiver), DATAGRAMS, "mended");
}

#[test]
fn the_lab_hosts_cannot_reach_the_machine_they_run_on() {
    let mut lab = Lab::new();
    let a = lab.host("a").unwrap();
    // A listener on the root namespace's loopback, a sender in the lab: loopback there is its own.
    let outside = UdpSocket::bind("127.0.0.1:0").unwrap();
    let inside = a.udp_socket("127.0.0.1:0".parse().unwrap()).unwrap();
    assert_eq!(delivered(&inside, &outside), 0);
}
