//! The simulated camera as the kiosk uses it: frames from image files in name order, looping, at
//! the configured size, paced at the configured rate, through the camera thread's bounded channel;
//! a broken file is reported by name and skipped; an empty directory says what to do.
//! Fixture frames: tests/fixtures/faces (from the development face set, see its README).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // test code: a panic is a failed test

use std::path::PathBuf;
use std::time::{Duration, Instant};

use enroll_devices::camera::{Camera, CameraErrorKind, CameraReport, spawn};
use enroll_sim::file_camera::FileCamera;

fn frames_dir() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let faces = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/faces");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&faces)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    sources.sort();
    let mut copied = Vec::new();
    for (i, source) in sources.iter().take(3).enumerate() {
        let target = dir.path().join(format!("frame-{i:02}.jpg"));
        std::fs::copy(source, &target).unwrap();
        copied.push(target);
    }
    (dir, copied)
}

#[test]
fn frames_play_in_name_order_at_the_configured_size_and_loop() {
    let (dir, files) = frames_dir();
    let mut camera = FileCamera::open(dir.path(), 640, 480, 100).unwrap();
    assert_eq!(camera.files(), files.as_slice());
    let mut sequences = Vec::new();
    for _ in 0..files.len() + 2 {
        let frame = camera.next_frame().unwrap();
        assert_eq!((frame.image.width(), frame.image.height()), (640, 480));
        sequences.push(frame.sequence);
    }
    assert_eq!(sequences, [0, 1, 2, 3, 4]);
    // A 250x250 picture letterboxed onto 640x480: black bars left and right, picture inside.
    let frame = camera.next_frame().unwrap();
    assert_eq!(frame.image.get_pixel(5, 240).0, [0, 0, 0]);
    assert_ne!(frame.image.get_pixel(320, 240).0, [0, 0, 0]);
}

#[test]
fn frames_are_paced_at_the_frame_rate() {
    let (dir, _) = frames_dir();
    let mut camera = FileCamera::open(dir.path(), 320, 240, 50).unwrap();
    let started = Instant::now();
    for _ in 0..11 {
        camera.next_frame().unwrap();
    }
    // Ten intervals of 20 ms at least (a lower bound only: a busy machine may be slower).
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_broken_file_is_named_and_skipped() {
    let (dir, _) = frames_dir();
    std::fs::write(dir.path().join("frame-01b.jpg"), b"\xff\xd8\xff truncated").unwrap();
    let mut camera = FileCamera::open(dir.path(), 320, 240, 200).unwrap();
    camera.next_frame().unwrap();
    camera.next_frame().unwrap();
    let error = camera.next_frame().unwrap_err();
    assert_eq!(error.kind, CameraErrorKind::BadFrame);
    assert!(error.message.contains("frame-01b.jpg"), "{}", error.message);
    assert!(camera.next_frame().is_ok(), "the next file plays");
}

#[test]
fn an_empty_directory_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let error = FileCamera::open(dir.path(), 640, 480, 25).err().unwrap();
    assert_eq!(error.kind, CameraErrorKind::NotFound);
    assert!(
        error.message.contains("camera.frames_dir"),
        "{}",
        error.message
    );
}

#[test]
fn the_camera_thread_drops_frames_nobody_takes_and_stops_with_its_receiver() {
    let (dir, _) = frames_dir();
    let camera = FileCamera::open(dir.path(), 320, 240, 200).unwrap();
    let (receiver, thread) = spawn(Box::new(camera), 1).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // Dozens of frames were taken in 300 ms; the channel kept only the first of them.
    let first = match receiver.recv().unwrap() {
        CameraReport::Frame(frame) => frame.sequence,
        CameraReport::Error(error) => panic!("{error}"),
    };
    let second = match receiver.recv().unwrap() {
        CameraReport::Frame(frame) => frame.sequence,
        CameraReport::Error(error) => panic!("{error}"),
    };
    assert!(
        second > first + 1,
        "frames in between were dropped: {first} then {second}"
    );
    drop(receiver);
    thread.join().unwrap();
}
