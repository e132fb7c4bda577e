//! Owns the active liveness challenge's judgement: from what the face engine measures on each
//! camera frame (is there one face, the eyes' aspect ratio, the head's yaw), decide whether the
//! person in front of the camera blinked and then turned their head to the side the terminal
//! chose at random, within the time limit. It picks no side (the caller draws it), reads no
//! clock (times come in with the observations) and knows nothing about images or models.
//!
//! What it stops: a still photo never blinks; a photo moved or bent in front of the camera does
//! not close its eyes and open them again; a replayed video turns to the side it was recorded
//! with, which is the wrong one half of the time, and a first clear turn to the wrong side fails
//! at once. What it does not stop: a live replay that follows the prompt, or a good mask. Whose
//! face blinked is not judged here: the app compares the face on screen when the blink is done
//! with the captured one.

use serde::{Deserialize, Serialize};

/// Where the applicant is asked to turn: their own left or right (on a screen that mirrors the
/// camera, they see themselves turn that way). Turning to their own right turns the face toward
/// the camera image's left: a positive yaw in the engine's convention.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnSide {
    Left,
    Right,
}

impl TurnSide {
    /// The sign of the yaw a turn to this side gives (engine convention: + toward image left).
    fn yaw_sign(self) -> f32 {
        match self {
            TurnSide::Left => -1.0,
            TurnSide::Right => 1.0,
        }
    }

    /// Draws a side from one random byte (the caller's randomness).
    pub fn from_random_byte(byte: u8) -> TurnSide {
        if byte & 1 == 0 {
            TurnSide::Left
        } else {
            TurnSide::Right
        }
    }
}

/// The thresholds of the challenge.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeSettings {
    /// The whole challenge must be done within this long.
    pub time_limit_ms: u64,
    /// Eyes count as open at or above this aspect ratio ...
    pub open_aspect_ratio: f32,
    /// ... and as shut at or below this one.
    pub closed_aspect_ratio: f32,
    /// A turn counts when the yaw passes this many degrees toward the asked side ...
    pub turn_yaw_deg: f32,
    /// ... and the blink must happen while the head is within this of frontal.
    pub frontal_yaw_deg: f32,
    /// Longer than this without a face (or with more than one) fails the challenge: someone
    /// swapped what is in front of the camera.
    pub max_face_gap_ms: u64,
}

impl ChallengeSettings {
    /// The open pack's thresholds (its `engine.toml` says where they come from).
    pub const DEFAULT: ChallengeSettings = ChallengeSettings {
        time_limit_ms: 8_000,
        open_aspect_ratio: 0.20,
        closed_aspect_ratio: 0.12,
        turn_yaw_deg: 15.0,
        frontal_yaw_deg: 15.0,
        max_face_gap_ms: 700,
    };
}

impl Default for ChallengeSettings {
    fn default() -> Self {
        ChallengeSettings::DEFAULT
    }
}

/// What the engine measured on one frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Observation {
    /// When the frame was taken (monotonic ms).
    pub at_ms: u64,
    /// Exactly one face was found and measured; the other fields mean nothing otherwise.
    pub one_face: bool,
    /// The mean of the two eyes' aspect ratios (a blink closes both).
    pub eye_aspect_ratio: f32,
    /// Head yaw, degrees, + toward the image's left.
    pub yaw_deg: f32,
}

/// What the applicant is asked to do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prompt {
    /// Look at the camera and blink.
    Blink,
    /// Turn the head to this side.
    Turn(TurnSide),
}

/// Why the challenge failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChallengeFailure {
    /// Not done within the time limit (a still photo ends here).
    TimedOut,
    /// The head turned clearly to the other side first (a replay that does not follow).
    WrongSide,
    /// The face left the camera, or another face came, for too long.
    FaceLost,
}

/// Where the challenge stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Still going: show this prompt.
    Asking(Prompt),
    Passed,
    Failed(ChallengeFailure),
}

/// The result the record keeps (times from the start of the challenge).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeOutcome {
    pub passed: bool,
    /// The side that was asked.
    pub side: TurnSide,
    /// When the blink was complete (eyes open again), if it was.
    pub blink_done_ms: Option<u64>,
    /// When the turn was seen, if it was.
    pub turn_done_ms: Option<u64>,
    /// How long the challenge took until it passed or failed.
    pub total_ms: u64,
    pub failure: Option<ChallengeFailure>,
}

/// Why an officer waived the challenge for an applicant. A fixed list: the record's body is
/// signed in clear and names nobody, so it carries a code and never free text that could
/// describe the person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaiverReason {
    /// The applicant cannot blink on request (a condition of the eyes or face).
    CannotBlink,
    /// The applicant cannot turn their head (a neck brace, mobility).
    CannotTurnHead,
    /// The applicant cannot follow the prompts (a young child, hearing, understanding).
    CannotFollowPrompts,
    /// The terminal cannot see it (camera placement, light, a wheelchair below the camera).
    Equipment,
}

impl WaiverReason {
    /// Every reason, in the order the officer's screen offers them.
    pub const ALL: [WaiverReason; 4] = [
        WaiverReason::CannotBlink,
        WaiverReason::CannotTurnHead,
        WaiverReason::CannotFollowPrompts,
        WaiverReason::Equipment,
    ];
}

/// What an enrollment's record keeps about the challenge: the last one run before the check
/// (passed, or failed or unfinished when it was waived) and the officer's waiver, if any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChallengeRecord {
    pub outcome: Option<ChallengeOutcome>,
    pub waived: Option<WaiverReason>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// What the blink is waiting for next.
enum Blink {
    /// The eyes open.
    Open,
    /// Open seen: the eyes shut.
    Shut,
    /// Shut seen: the eyes open again.
    Reopen,
}

/// One run of the challenge.
#[derive(Clone, Debug, PartialEq)]
pub struct Challenge {
    settings: ChallengeSettings,
    side: TurnSide,
    started_ms: u64,
    blink: Blink,
    blink_done_ms: Option<u64>,
    turn_done_ms: Option<u64>,
    /// The last frame with exactly one face.
    last_face_ms: u64,
    result: Option<Progress>,
}

impl Challenge {
    /// Starts a challenge at `now_ms`, asking for a turn to `side` after the blink.
    pub fn start(settings: ChallengeSettings, side: TurnSide, now_ms: u64) -> Challenge {
        Challenge {
            settings,
            side,
            started_ms: now_ms,
            blink: Blink::Open,
            blink_done_ms: None,
            turn_done_ms: None,
            last_face_ms: now_ms,
            result: None,
        }
    }

    pub fn side(&self) -> TurnSide {
        self.side
    }

    /// Where the challenge stands without a new frame (time may have run out).
    pub fn progress(&self, now_ms: u64) -> Progress {
        if let Some(done) = self.result {
            return done;
        }
        if now_ms.saturating_sub(self.started_ms) > self.settings.time_limit_ms {
            return Progress::Failed(ChallengeFailure::TimedOut);
        }
        if now_ms.saturating_sub(self.last_face_ms) > self.settings.max_face_gap_ms {
            return Progress::Failed(ChallengeFailure::FaceLost);
        }
        self.asking()
    }

    /// What the applicant is asked to do, from the frames seen so far (`None` once the challenge
    /// has passed or failed on a frame).
    pub fn prompt(&self) -> Option<Prompt> {
        match self.result {
            Some(_) => None,
            None => match self.asking() {
                Progress::Asking(prompt) => Some(prompt),
                Progress::Passed | Progress::Failed(_) => None,
            },
        }
    }

    fn asking(&self) -> Progress {
        if self.blink_done_ms.is_none() {
            Progress::Asking(Prompt::Blink)
        } else {
            Progress::Asking(Prompt::Turn(self.side))
        }
    }

    /// Takes one frame's measurements; returns where the challenge stands after it.
    pub fn observe(&mut self, frame: Observation) -> Progress {
        let now = self.progress(frame.at_ms);
        if !matches!(now, Progress::Asking(_)) {
            self.result = Some(now);
            return now;
        }
        if !frame.one_face || !frame.eye_aspect_ratio.is_finite() || !frame.yaw_deg.is_finite() {
            return now;
        }
        self.last_face_ms = frame.at_ms;
        let s = &self.settings;
        let toward_asked = frame.yaw_deg * self.side.yaw_sign();
        if toward_asked <= -s.turn_yaw_deg {
            return self.finish(Progress::Failed(ChallengeFailure::WrongSide));
        }
        if self.blink_done_ms.is_none() {
            // The blink is judged facing the camera (a turned head distorts the eye ratio).
            if frame.yaw_deg.abs() <= s.frontal_yaw_deg {
                let ratio = frame.eye_aspect_ratio;
                self.blink = match self.blink {
                    Blink::Open if ratio >= s.open_aspect_ratio => Blink::Shut,
                    Blink::Shut if ratio <= s.closed_aspect_ratio => Blink::Reopen,
                    Blink::Reopen if ratio >= s.open_aspect_ratio => {
                        self.blink_done_ms = Some(frame.at_ms.saturating_sub(self.started_ms));
                        Blink::Open
                    }
                    unchanged => unchanged,
                };
            }
            return self.asking();
        }
        if toward_asked >= s.turn_yaw_deg {
            self.turn_done_ms = Some(frame.at_ms.saturating_sub(self.started_ms));
            return self.finish(Progress::Passed);
        }
        self.asking()
    }

    fn finish(&mut self, result: Progress) -> Progress {
        self.result = Some(result);
        result
    }

    /// The outcome for the record, at `now_ms` (the time of the last frame or of the timeout).
    pub fn outcome(&self, now_ms: u64) -> ChallengeOutcome {
        let progress = self.progress(now_ms);
        let total_ms = match (progress, self.turn_done_ms) {
            (Progress::Passed, Some(turn)) => turn,
            _ => now_ms.saturating_sub(self.started_ms),
        };
        ChallengeOutcome {
            passed: progress == Progress::Passed,
            side: self.side,
            blink_done_ms: self.blink_done_ms,
            turn_done_ms: self.turn_done_ms,
            total_ms: total_ms.min(self.settings.time_limit_ms.saturating_add(1)),
            failure: match progress {
                Progress::Failed(why) => Some(why),
                Progress::Asking(_) | Progress::Passed => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: f32 = 0.28;
    const SHUT: f32 = 0.06;

    fn frame(at_ms: u64, eye_aspect_ratio: f32, yaw_deg: f32) -> Observation {
        Observation {
            at_ms,
            one_face: true,
            eye_aspect_ratio,
            yaw_deg,
        }
    }

    /// Plays frames 40 ms apart (25 fps) from `start_ms`; returns the last progress.
    fn play(challenge: &mut Challenge, start_ms: u64, frames: &[(f32, f32)]) -> Progress {
        let mut last = challenge.progress(start_ms);
        for (i, (ratio, yaw)) in frames.iter().enumerate() {
            last = challenge.observe(frame(start_ms + 40 * i as u64, *ratio, *yaw));
        }
        last
    }

    fn blink_then_turn(yaw_of_turn: f32) -> Vec<(f32, f32)> {
        let mut frames = vec![(OPEN, 0.0); 10];
        frames.extend([(0.15, 0.0), (SHUT, 0.0), (SHUT, 0.0), (0.15, 0.0)]);
        frames.extend(vec![(OPEN, 0.0); 5]);
        frames.extend((1..=10).map(|k| (OPEN, yaw_of_turn * k as f32 / 10.0)));
        frames
    }

    #[test]
    fn a_blink_then_a_turn_to_the_asked_side_passes_with_its_timings() {
        for (side, yaw) in [(TurnSide::Left, -30.0), (TurnSide::Right, 30.0)] {
            let mut challenge = Challenge::start(ChallengeSettings::default(), side, 1_000);
            assert_eq!(challenge.progress(1_000), Progress::Asking(Prompt::Blink));
            let last = play(&mut challenge, 1_000, &blink_then_turn(yaw));
            assert_eq!(last, Progress::Passed, "{side:?}");
            let outcome = challenge.outcome(1_000 + 40 * 28);
            assert!(outcome.passed && outcome.failure.is_none());
            assert_eq!(outcome.side, side);
            // The eyes are open again at frame 14 (560 ms); the turn reaches 15 degrees at
            // frame 23 (920 ms).
            assert_eq!(outcome.blink_done_ms, Some(560));
            assert_eq!(outcome.turn_done_ms, Some(920));
            assert_eq!(outcome.total_ms, 920);
        }
    }

    #[test]
    fn after_the_blink_the_prompt_names_the_side() {
        let mut challenge = Challenge::start(ChallengeSettings::default(), TurnSide::Right, 0);
        let blink: Vec<(f32, f32)> = [OPEN, SHUT, OPEN].iter().map(|r| (*r, 0.0)).collect();
        assert_eq!(
            play(&mut challenge, 0, &blink),
            Progress::Asking(Prompt::Turn(TurnSide::Right))
        );
    }

    #[test]
    fn a_still_photo_never_blinks_and_times_out() {
        let mut challenge = Challenge::start(ChallengeSettings::default(), TurnSide::Left, 0);
        // 10 s of the same open eyes, facing the camera.
        let frames = vec![(OPEN, 1.5); 250];
        assert_eq!(
            play(&mut challenge, 0, &frames),
            Progress::Failed(ChallengeFailure::TimedOut)
        );
        let outcome = challenge.outcome(9_960);
        assert!(!outcome.passed);
        assert_eq!(outcome.blink_done_ms, None);
        assert_eq!(outcome.failure, Some(ChallengeFailure::TimedOut));
    }

    #[test]
    fn a_photo_turned_in_front_of_the_camera_without_a_blink_fails() {
        // Someone swings a printed photo: the yaw changes both ways, the eyes never shut.
        let mut challenge = Challenge::start(ChallengeSettings::default(), TurnSide::Left, 0);
        let frames: Vec<(f32, f32)> = (0..250)
            .map(|i| (OPEN, 25.0 * ((i as f32) / 10.0).sin()))
            .collect();
        let last = play(&mut challenge, 0, &frames);
        assert!(matches!(last, Progress::Failed(_)), "{last:?}");
        assert_eq!(challenge.outcome(9_960).blink_done_ms, None);
    }

    #[test]
    fn a_replay_that_turns_the_other_way_fails_at_once() {
        let mut challenge = Challenge::start(ChallengeSettings::default(), TurnSide::Left, 0);
        let last = play(&mut challenge, 0, &blink_then_turn(30.0));
        assert_eq!(last, Progress::Failed(ChallengeFailure::WrongSide));
        // Turning the asked way afterwards does not undo it.
        assert_eq!(
            challenge.observe(frame(5_000, OPEN, -30.0)),
            Progress::Failed(ChallengeFailure::WrongSide)
        );
        let outcome = challenge.outcome(5_000);
        assert_eq!(outcome.failure, Some(ChallengeFailure::WrongSide));
        assert!(outcome.blink_done_ms.is_some() && outcome.turn_done_ms.is_none());
    }

    #[test]
    fn a_turn_before_the_blink_does_not_count() {
        let mut challenge = Challenge::start(ChallengeSettings::default(), TurnSide::Right, 0);
        assert_eq!(
            play(&mut challenge, 0, &[(OPEN, 0.0), (OPEN, 30.0)]),
            Progress::Asking(Prompt::Blink)
        );
    }

    #[test]
    fn the_face_leaving_for_too_long_fails_the_challenge() {
        let mut challenge = Challenge::start(ChallengeSettings::default(), TurnSide::Left, 0);
        challenge.observe(frame(0, OPEN, 0.0));
        let gone = Observation {
            at_ms: 800,
            one_face: false,
            eye_aspect_ratio: f32::NAN,
            yaw_deg: f32::NAN,
        };
        assert_eq!(
            challenge.observe(gone),
            Progress::Failed(ChallengeFailure::FaceLost)
        );
    }

    #[test]
    fn sides_are_drawn_from_the_random_byte() {
        assert_eq!(TurnSide::from_random_byte(0x10), TurnSide::Left);
        assert_eq!(TurnSide::from_random_byte(0x11), TurnSide::Right);
    }
}
