//! The verifier screen's speed (issue 26's target), criterion: from one 1280×720 webcam frame
//! holding a phone's check-in QR (turned 14 degrees, in perspective) to the answer the screen
//! shows: the frame made grey, the code found and decoded, the token checked against the held
//! lists, the plain words made (≤ 300 ms). Also the steps alone. `scripts/bench.sh verifier` runs
//! it and prints the ratio. Keys are made per run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // bench code: a panic is a failed run

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use enroll_credential::Profile;
use enroll_idverify::scan::{self, Light};
use enroll_idverify::state::StateDir;
use support::camera::turned;
use support::{NOW, Synced};

fn verifier(c: &mut Criterion) {
    let synced = Synced::new(NOW - 3_600, &[]);
    let state = StateDir::locate(Some(synced.state()))
        .unwrap()
        .load()
        .unwrap()
        .unwrap();
    let token = synced.token(Profile::CheckIn);
    let frame = turned(&token, 14.0, 520.0, 0.85);
    // The answer is right before it is timed.
    let texts = scan::frame_texts(&frame);
    assert_eq!(texts, vec![token.clone()]);
    assert_eq!(
        scan::shown(&state.verify(&texts[0], NOW)).light,
        Light::Green
    );

    let mut group = c.benchmark_group("verifier");
    group.sample_size(20);
    group.bench_function("frame_to_answer_1280x720", |b| {
        b.iter(|| {
            let texts = scan::frame_texts(black_box(&frame));
            let shown = scan::shown(&state.verify(&texts[0], NOW));
            black_box(shown)
        });
    });
    group.bench_function("decode_only_1280x720", |b| {
        b.iter(|| black_box(scan::frame_texts(black_box(&frame))));
    });
    group.bench_function("verify_only", |b| {
        b.iter(|| black_box(state.verify(black_box(&token), NOW)));
    });
    group.finish();
}

criterion_group!(benches, verifier);
criterion_main!(benches);
