//! The simulated camera as the kiosk uses it: frames from image files in name order, looping, at
//! the configured size, paced at the configured rate, through the camera thread's bounded channel;
//! a broken file is reported by name and skipped; an empty directory says what to do; the demo
//! person follows the liveness challenge's prompt.
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

/// Writes a plain picture of `colour` (a frame whose source is easy to tell).
fn plain(path: &std::path::Path, colour: [u8; 3]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_pixel(32, 24, image::Rgb(colour))
        .save(path)
        .unwrap();
}

#[test]
fn the_demo_person_plays_the_act_of_the_prompt_shown_once_then_holds_it_and_goes_back_to_the_frames()
 {
    use enroll_core::domain::challenge::{Prompt, TurnSide};
    use enroll_sim::file_camera::ApplicantCue;
    const STANDING: [u8; 3] = [200, 0, 0];
    const OPEN: [u8; 3] = [0, 200, 0];
    const SHUT: [u8; 3] = [0, 0, 200];
    const LEFT: [u8; 3] = [200, 200, 0];
    let dir = tempfile::tempdir().unwrap();
    plain(&dir.path().join("frame_000.png"), STANDING);
    plain(&dir.path().join("challenge/blink/a.png"), OPEN);
    plain(&dir.path().join("challenge/blink/b.png"), SHUT);
    plain(&dir.path().join("challenge/blink/c.png"), OPEN);
    plain(&dir.path().join("challenge/turn-left/a.png"), LEFT);
    let cue = ApplicantCue::new();
    let mut camera = FileCamera::open(dir.path(), 32, 24, 1000)
        .unwrap()
        .following(cue.clone());
    // No act for a turn to the right: that prompt leaves the frames playing.
    assert_eq!(camera.acts(), [Prompt::Blink, Prompt::Turn(TurnSide::Left)]);
    let colours = |camera: &mut FileCamera, n: usize| -> Vec<[u8; 3]> {
        (0..n)
            .map(|_| camera.next_frame().unwrap().image.get_pixel(16, 12).0)
            .collect()
    };
    assert_eq!(colours(&mut camera, 2), [STANDING, STANDING]);
    cue.show(Some(Prompt::Blink));
    assert_eq!(colours(&mut camera, 5), [OPEN, SHUT, OPEN, OPEN, OPEN]);
    cue.show(Some(Prompt::Turn(TurnSide::Left)));
    assert_eq!(colours(&mut camera, 2), [LEFT, LEFT]);
    cue.show(Some(Prompt::Turn(TurnSide::Right)));
    assert_eq!(colours(&mut camera, 1), [STANDING]);
    cue.show(None);
    assert_eq!(colours(&mut camera, 1), [STANDING]);
    // Asked again, the act starts over from its first picture.
    cue.show(Some(Prompt::Blink));
    assert_eq!(colours(&mut camera, 2), [OPEN, SHUT]);
    // A camera nobody cues (a still photo) never plays the acts.
    let mut unfollowing = FileCamera::open(dir.path(), 32, 24, 1000).unwrap();
    assert!(unfollowing.acts().is_empty());
    assert_eq!(colours(&mut unfollowing, 2), [STANDING, STANDING]);
}
