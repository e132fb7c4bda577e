//! Hosts in network namespaces joined by veth links (`ip netns`, iproute2), for network faults
//! that the kernel makes: a partition takes one end of a link down, so the other end's packets
//! vanish and its connections time out as across a cut cable; packet loss is an nftables rule
//! (`numgen random`) on the input of both ends of a link. The namespaces and links are removed when
//! the [`Lab`] is dropped.
//!
//! It does not delay packets (nftables cannot, and `netem` is not in this kernel): delay comes from
//! the in-process fault proxy of the sync tests. It never touches the root namespace's interfaces:
//! the only hosts reached are the ones a lab made.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// A command the lab ran that failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("cannot run {program} (install iproute2 and nftables: scripts/setup.sh): {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed (network namespaces need root): {stderr}")]
    Failed { command: String, stderr: String },
}

fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Result<(), NetError> {
    use std::io::Write as _;
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| NetError::Spawn {
            program: program.to_owned(),
            source,
        })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|source| NetError::Spawn {
                program: program.to_owned(),
                source,
            })?;
    }
    let output = child.wait_with_output().map_err(|source| NetError::Spawn {
        program: program.to_owned(),
        source,
    })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(NetError::Failed {
            command: format!("{program} {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// Labs made by this process so far: each gets its own name prefix.
static LABS: AtomicU32 = AtomicU32::new(0);

/// A set of namespaces and links, removed on drop.
pub struct Lab {
    tag: String,
    namespaces: Vec<String>,
    links: u32,
}

/// One host: a network namespace with its loopback up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub namespace: String,
}

/// A veth pair between two hosts, `10.99.N.1` on the first and `10.99.N.2` on the second.
#[derive(Debug, Clone)]
pub struct Link {
    first: (String, String),
    second: (String, String),
    pub first_address: Ipv4Addr,
    pub second_address: Ipv4Addr,
}

impl Lab {
    /// An empty lab; nothing is created until [`Lab::host`].
    pub fn new() -> Lab {
        let n = LABS.fetch_add(1, Ordering::SeqCst);
        Lab {
            tag: format!("ek{}x{n}", std::process::id() % 100_000),
            namespaces: Vec::new(),
            links: 0,
        }
    }

    /// A new host named `name` (letters and digits, short: the namespace is `<lab>-<name>`).
    pub fn host(&mut self, name: &str) -> Result<Host, NetError> {
        let namespace = format!("{}-{name}", self.tag);
        // A lab of an earlier, killed run of this pid may have left it behind.
        let _ = run("ip", &["netns", "del", &namespace], None);
        run("ip", &["netns", "add", &namespace], None)?;
        self.namespaces.push(namespace.clone());
        run("ip", &["-n", &namespace, "link", "set", "lo", "up"], None)?;
        Ok(Host { namespace })
    }

    /// A link between `first` and `second`, up.
    pub fn link(&mut self, first: &Host, second: &Host) -> Result<Link, NetError> {
        self.links += 1;
        let n = self.links;
        // Interface names are at most 15 bytes: the lab's tag is at most 11 with n < 100.
        let first_dev = format!("{}a{n}", self.tag);
        let second_dev = format!("{}b{n}", self.tag);
        run(
            "ip",
            &[
                "link",
                "add",
                &first_dev,
                "netns",
                &first.namespace,
                "type",
                "veth",
                "peer",
                "name",
                &second_dev,
                "netns",
                &second.namespace,
            ],
            None,
        )?;
        let subnet = n % 250 + 1;
        let first_address = Ipv4Addr::new(10, 99, subnet as u8, 1);
        let second_address = Ipv4Addr::new(10, 99, subnet as u8, 2);
        for (namespace, dev, address) in [
            (&first.namespace, &first_dev, first_address),
            (&second.namespace, &second_dev, second_address),
        ] {
            run(
                "ip",
                &[
                    "-n",
                    namespace,
                    "addr",
                    "add",
                    &format!("{address}/24"),
                    "dev",
                    dev,
                ],
                None,
            )?;
            run("ip", &["-n", namespace, "link", "set", dev, "up"], None)?;
        }
        Ok(Link {
            first: (first.namespace.clone(), first_dev),
            second: (second.namespace.clone(), second_dev),
            first_address,
            second_address,
        })
    }

    /// `program` run inside `host`'s namespace (through `ip netns exec`).
    pub fn command(&self, host: &Host, program: &std::path::Path) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &host.namespace])
            .arg(program);
        command
    }
}

impl Host {
    /// A UDP socket bound to `address` inside this host's namespace (made on a short-lived thread
    /// that enters the namespace; a socket stays in the namespace it was made in).
    pub fn udp_socket(
        &self,
        address: std::net::SocketAddr,
    ) -> std::io::Result<std::net::UdpSocket> {
        let path = std::path::Path::new("/run/netns").join(&self.namespace);
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let namespace = std::fs::File::open(&path)?;
                    rustix::thread::move_into_link_name_space(
                        std::os::fd::AsFd::as_fd(&namespace),
                        Some(rustix::thread::LinkNameSpaceType::Network),
                    )?;
                    std::net::UdpSocket::bind(address)
                })
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the namespace thread panicked")))
        })
    }
}

impl Default for Lab {
    fn default() -> Self {
        Lab::new()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of every veth pair, and with it the pair.
        for namespace in &self.namespaces {
            let _ = run("ip", &["netns", "del", namespace], None);
        }
    }
}

/// The nftables table the lab puts its loss rule in, inside a host's namespace.
const LOSS_TABLE: &str = "enroll_faults";

/// The ruleset that drops `percent` % of the packets arriving on `dev`, at random.
pub fn loss_ruleset(dev: &str, percent: u8) -> String {
    // `add` then `delete` then define: replaces an earlier rule in one transaction.
    format!(
        "add table inet {LOSS_TABLE}\n\
         delete table inet {LOSS_TABLE}\n\
         table inet {LOSS_TABLE} {{\n\
         \tchain input {{\n\
         \t\ttype filter hook input priority 0; policy accept;\n\
         \t\tiifname \"{dev}\" numgen random mod 100 < {percent} drop\n\
         \t}}\n\
         }}\n",
        percent = percent.min(100)
    )
}

impl Link {
    /// Cuts the link (`up == false`) or mends it. The second host's end goes down: the first host
    /// keeps its address and route, and what it sends is lost, as across a cut cable.
    pub fn set_up(&self, up: bool) -> Result<(), NetError> {
        let (namespace, dev) = &self.second;
        run(
            "ip",
            &[
                "-n",
                namespace,
                "link",
                "set",
                dev,
                if up { "up" } else { "down" },
            ],
            None,
        )
    }

    /// Drops `percent` % of the packets each way at random; 0 removes the rule.
    pub fn set_loss(&self, percent: u8) -> Result<(), NetError> {
        for (namespace, dev) in [&self.first, &self.second] {
            let script = if percent == 0 {
                format!("add table inet {LOSS_TABLE}\ndelete table inet {LOSS_TABLE}\n")
            } else {
                loss_ruleset(dev, percent)
            };
            run(
                "ip",
                &["netns", "exec", namespace, "nft", "-f", "-"],
                Some(&script),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loss_rule_names_the_device_and_the_percentage_and_replaces_an_earlier_one() {
        let rules = loss_ruleset("ek1x0b1", 30);
        assert!(
            rules.starts_with("add table inet enroll_faults\ndelete table inet enroll_faults\n")
        );
        assert!(rules.contains("iifname \"ek1x0b1\" numgen random mod 100 < 30 drop"));
        assert!(loss_ruleset("d", 250).contains("< 100 drop"));
    }
}
