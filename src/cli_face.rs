//! The `kiosk face` commands (compare, analyze, eval, calibrate): read image files, call the face
//! engine, print. The metrics and the decision live in `enroll_face`; embeddings are never
//! printed.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use enroll_core::domain::challenge::{Challenge, Progress, Prompt, TurnSide};
use enroll_face::eval::{ImageRef, Pair, Scored, card_resolution, metrics, parse_pairs};
use enroll_face::{
    Analysis, Decision, Embedding, FaceAnalyzer, FaceEngine, FaceError, FaceMatcher, PackSettings,
    QualityReport, decode_image,
};
use enroll_kiosk::config::Config;

/// `kiosk face [--pack NAME] COMMAND`.
#[derive(Args)]
pub struct FaceArgs {
    /// Use this model pack (a folder of face.packs_dir) instead of the configured one
    #[arg(long, value_name = "NAME", global = true)]
    pack: Option<String>,
    #[command(subcommand)]
    command: FaceCommand,
}

#[derive(Subcommand)]
pub enum FaceCommand {
    /// List the installed model packs: name, pipeline, licences, whether every file is there
    /// with its pinned hash, and which one the configuration uses
    Packs {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Compare two face images: score, threshold, decision and each image's quality
    Compare {
        /// The first image (e.g. the card's chip photo)
        first: PathBuf,
        /// The second image (e.g. the live capture)
        second: PathBuf,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Analyse one image: detections, landmarks, pose, quality components, eyes, liveness
    Analyze {
        /// The image (JPEG, PNG or BMP)
        image: PathBuf,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
        /// Analyse it as a live camera frame (the guidance thresholds and the fast path the
        /// capture screen uses) instead of as a still
        #[arg(long)]
        live: bool,
    },
    /// Play camera frames (in order, at --fps) through the active liveness challenge: blink,
    /// then turn to --side; prints what was asked at each frame, what was measured and the result
    /// (exit 0 when it passes, 1 when it fails). For packs that measure eyes and yaw (open)
    Challenge {
        /// The side the terminal asks for (the applicant's view of the screen)
        #[arg(long, value_enum)]
        side: ChallengeSide,
        /// Frames per second the pictures were taken at
        #[arg(long, default_value_t = 25, value_name = "N")]
        fps: u32,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
        /// The frames, in order (JPEG, PNG or BMP)
        #[arg(required = true)]
        frames: Vec<PathBuf>,
    },
    /// Measure verification accuracy on an LFW-style pair list
    Eval {
        #[command(flatten)]
        set: PairSet,
        /// Print JSON (the metrics and per-stage times) instead of text
        #[arg(long)]
        json: bool,
    },
    /// Choose the match threshold at a target false-accept rate and write it, with the hashes of
    /// the models it holds for, as a face-engine.toml snippet
    Calibrate {
        #[command(flatten)]
        set: PairSet,
        /// Target false-accept rate, e.g. 1e-3
        #[arg(long, value_name = "RATE")]
        far: f64,
        /// Write the snippet here instead of standard output
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// An evaluation set: a pairs file and the image tree it names.
#[derive(Args)]
pub struct PairSet {
    /// Pair list in the LFW pairs.txt format (first line `k n`, then k folds of n genuine and n
    /// impostor lines)
    #[arg(long, value_name = "FILE")]
    pairs: PathBuf,
    /// Image root: images are at DIR/NAME/NAME_000i.jpg
    #[arg(long, value_name = "DIR")]
    root: PathBuf,
    /// Turn the second image of every pair into a chip-like photo (102x126, JPEG quality 50)
    #[arg(long)]
    card_res: bool,
    /// Use only about N pairs: the first N/(2k) genuine and impostor pairs of each of the k folds
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Worker threads, each with its own engine
    #[arg(long, default_value_t = 2, value_name = "N")]
    threads: usize,
}

pub fn run(args: FaceArgs, config_path: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path.as_deref())?;
    if let FaceCommand::Packs { json } = args.command {
        return packs(&config, json);
    }
    let settings = match &args.pack {
        None => config.face.engine.clone(),
        Some(name) => pack_settings(&config, name)?,
    };
    match args.command {
        FaceCommand::Packs { .. } => Ok(ExitCode::SUCCESS),
        FaceCommand::Compare {
            first,
            second,
            json,
        } => compare(&settings, &first, &second, json),
        FaceCommand::Analyze { image, json, live } => analyze(&settings, &image, json, live),
        FaceCommand::Eval { set, json } => eval(&settings, &set, json),
        FaceCommand::Challenge {
            side,
            fps,
            json,
            frames,
        } => challenge(&settings, side.into(), fps, &frames, json),
        FaceCommand::Calibrate { set, far, out } => calibrate(&settings, &set, far, out.as_deref()),
    }
}

/// The configuration file this command read, for its messages.
static CONFIG_READ: std::sync::OnceLock<(PathBuf, PathBuf)> = std::sync::OnceLock::new();

fn load_config(config_path: Option<&Path>) -> anyhow::Result<Config> {
    let path = Config::resolve_path(config_path);
    let config = Config::load(&path).with_context(|| {
        format!(
            "cannot load the face engine settings from {}",
            path.display()
        )
    })?;
    let _ = CONFIG_READ.set((path, config.face.models_dir.clone()));
    Ok(config)
}

/// The configured packs folder, or a clear error.
fn packs_dir(config: &Config) -> anyhow::Result<&Path> {
    config.face.packs_dir.as_deref().ok_or_else(|| {
        anyhow::anyhow!(
            "this configuration names no face.packs_dir (the folder of model packs, e.g. \
             \"../assets/models/packs\"); add it under [face]"
        )
    })
}

/// The pack `name` from the configured packs folder.
fn pack_settings(config: &Config, name: &str) -> anyhow::Result<PackSettings> {
    let dir = packs_dir(config)?.join(name);
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') || !dir.is_dir() {
        bail!(
            "no model pack \"{name}\" in {}; `kiosk face packs` lists the installed ones",
            packs_dir(config)?.display()
        );
    }
    enroll_kiosk::config::load_pack(&dir).map_err(|problem| anyhow::anyhow!(problem))
}

/// One pack as `kiosk face packs` shows it.
#[derive(serde::Serialize)]
struct PackListing {
    name: String,
    pipeline: enroll_face::Pipeline,
    summary: String,
    licences: Vec<String>,
    in_use: bool,
    /// Every model file of the engine file is there with the hash the engine file pins.
    complete: bool,
    problems: Vec<String>,
}

fn list_packs(config: &Config) -> anyhow::Result<Vec<PackListing>> {
    let dir = packs_dir(config)?;
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list the model packs in {}", dir.display()))?
        .filter_map(|entry| entry.ok())
        .filter(|entry| {
            entry
                .path()
                .join(enroll_kiosk::config::PACK_MANIFEST_FILE)
                .is_file()
        })
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let listing = match enroll_kiosk::config::load_pack(&dir.join(&name)) {
            Ok(pack) => {
                let problems: Vec<String> = pack
                    .models()
                    .into_iter()
                    .filter_map(|(role, file)| enroll_face::onnx::read_checked(role, file).err())
                    .map(|e| e.to_string())
                    .collect();
                let manifest = pack.manifest();
                PackListing {
                    in_use: config.face.engine.name() == manifest.name
                        && config.face.models_dir == dir.join(&name),
                    name,
                    pipeline: manifest.pipeline,
                    summary: manifest.summary.clone(),
                    licences: manifest.licences.clone(),
                    complete: problems.is_empty(),
                    problems,
                }
            }
            Err(problem) => PackListing {
                name,
                pipeline: enroll_face::Pipeline::Open,
                summary: String::new(),
                licences: Vec::new(),
                in_use: false,
                complete: false,
                problems: vec![problem],
            },
        };
        out.push(listing);
    }
    Ok(out)
}

fn packs(config: &Config, json: bool) -> anyhow::Result<ExitCode> {
    let listings = list_packs(config)?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&listings)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if listings.is_empty() {
        writeln!(
            out,
            "no model packs in {}; run scripts/setup.sh",
            packs_dir(config)?.display()
        )?;
    }
    for pack in &listings {
        writeln!(
            out,
            "{}{} ({:?} pipeline): {}",
            pack.name,
            if pack.in_use { " [in use]" } else { "" },
            pack.pipeline,
            if pack.complete {
                "complete"
            } else {
                "incomplete"
            },
        )?;
        if !pack.summary.is_empty() {
            writeln!(out, "  {}", pack.summary)?;
        }
        if !pack.licences.is_empty() {
            writeln!(
                out,
                "  licences: {} (texts in LICENSES/, sources in PROVENANCE.md)",
                pack.licences.join(", ")
            )?;
        }
        for problem in &pack.problems {
            writeln!(out, "  problem: {problem}")?;
        }
    }
    if !config.face.engine.name().is_empty() && !listings.iter().any(|p| p.in_use) {
        writeln!(
            out,
            "in use: {} (face.models_dir {}, outside the packs folder)",
            config.face.engine.name(),
            config.face.models_dir.display()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn load_engine(settings: &PackSettings) -> anyhow::Result<FaceEngine> {
    FaceEngine::load(settings).with_context(|| match CONFIG_READ.get() {
        Some((config, models)) => format!(
            "cannot load the face models of the pack \"{}\" from {} (face settings of {}); run \
             scripts/setup.sh to fetch them (the faceplugin pack: scripts/setup.sh \
             --with-faceplugin-pack), or list the installed packs with `kiosk face packs`",
            settings.name(),
            models.display(),
            config.display()
        ),
        None => "cannot load the face models (run scripts/setup.sh to fetch them)".to_owned(),
    })
}

fn read_image(settings: &PackSettings, path: &Path) -> anyhow::Result<image::RgbImage> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read image {}", path.display()))?;
    decode_image(&bytes, settings.limits().max_decode_side_px)
        .with_context(|| format!("image {}", path.display()))
}

/// One analysed image and, when it had a usable face, its embedding.
struct Examined {
    analysis: Analysis,
    embedding: Result<Embedding, FaceError>,
}

fn examine(engine: &FaceEngine, path: &Path) -> anyhow::Result<Examined> {
    let image = read_image(engine.pack(), path)?;
    let analysis = engine
        .analyze_still(&image)
        .with_context(|| format!("image {}", path.display()))?;
    let embedding = engine.embed_analyzed(&image, &analysis);
    Ok(Examined {
        analysis,
        embedding,
    })
}

fn compare(
    settings: &PackSettings,
    first: &Path,
    second: &Path,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let engine = load_engine(settings)?;
    let a = examine(&engine, first)?;
    let b = examine(&engine, second)?;
    let decision: Result<Decision, String> = match (&a.embedding, &b.embedding) {
        (Ok(x), Ok(y)) => engine.compare(x, y).map_err(|e| e.to_string()),
        (Err(e), _) => Err(format!("{}: {e}", first.display())),
        (_, Err(e)) => Err(format!("{}: {e}", second.display())),
    };
    let mut out = std::io::stdout().lock();
    if json {
        let value = serde_json::json!({
            "score_cosine": decision.as_ref().ok().map(|d| d.score_cosine),
            "threshold_cosine": engine.threshold_cosine(),
            "decision": match &decision {
                Ok(d) if d.is_match => "match",
                Ok(_) => "no_match",
                Err(_) => "no_usable_face",
            },
            "problem": decision.as_ref().err(),
            "first": image_json(first, &a.analysis),
            "second": image_json(second, &b.analysis),
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        match &decision {
            Ok(d) => writeln!(
                out,
                "score {:.4} (cosine), threshold {:.4}: {}",
                d.score_cosine,
                d.threshold_cosine,
                if d.is_match {
                    "match, same person"
                } else {
                    "no match"
                }
            )?,
            Err(problem) => writeln!(
                out,
                "no decision, counted as no match: {problem}; threshold {:.4}",
                engine.threshold_cosine()
            )?,
        }
        for (path, examined) in [(first, &a), (second, &b)] {
            writeln!(
                out,
                "{}: quality {}",
                path.display(),
                quality_line(&examined.analysis.quality)
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn image_json(path: &Path, analysis: &Analysis) -> serde_json::Value {
    serde_json::json!({
        "path": path.display().to_string(),
        "faces": analysis.detections.len(),
        "quality": analysis.quality,
    })
}

fn quality_line(report: &QualityReport) -> String {
    if report.passed {
        "passed".to_owned()
    } else {
        let reasons: Vec<String> = report
            .reasons
            .iter()
            .map(|r| serde_plain(r).unwrap_or_else(|| format!("{r:?}")))
            .collect();
        format!("failed ({})", reasons.join(", "))
    }
}

/// The snake_case name serde gives a unit enum variant.
fn serde_plain(value: &impl serde::Serialize) -> Option<String> {
    match serde_json::to_value(value).ok()? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    }
}

fn analyze(
    settings: &PackSettings,
    path: &Path,
    json: bool,
    live: bool,
) -> anyhow::Result<ExitCode> {
    let engine = load_engine(settings)?;
    let image = read_image(settings, path)?;
    let analysis = if live {
        engine.analyze_frame(&image)
    } else {
        engine.analyze_still(&image)
    }
    .with_context(|| format!("image {}", path.display()))?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&analysis)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{}: {}x{} px, {} face(s) detected",
        path.display(),
        analysis.image_width_px,
        analysis.image_height_px,
        analysis.detections.len()
    )?;
    for (index, d) in analysis.detections.iter().enumerate() {
        writeln!(
            out,
            "  face {}: box x {:.0} y {:.0} w {:.0} h {:.0}, score {:.2} ({:?})",
            index + 1,
            d.face_box.x_px,
            d.face_box.y_px,
            d.face_box.width_px,
            d.face_box.height_px,
            d.score,
            d.detector
        )?;
    }
    match &analysis.face {
        None => writeln!(out, "main face: none usable")?,
        Some(face) => {
            writeln!(
                out,
                "main face: {} landmarks, inter-eye {:.1} px",
                face.landmarks.points.len(),
                face.inter_eye_px
            )?;
            let p = &face.five_points;
            writeln!(
                out,
                "  eyes ({:.1}, {:.1}) ({:.1}, {:.1}), nose ({:.1}, {:.1}), mouth ({:.1}, {:.1}) ({:.1}, {:.1})",
                p.left_eye.x_px,
                p.left_eye.y_px,
                p.right_eye.x_px,
                p.right_eye.y_px,
                p.nose_tip.x_px,
                p.nose_tip.y_px,
                p.mouth_left.x_px,
                p.mouth_left.y_px,
                p.mouth_right.x_px,
                p.mouth_right.y_px
            )?;
            writeln!(
                out,
                "  pose yaw {:.1} deg, pitch {:.1} deg, roll {:.1} deg",
                face.pose.yaw_deg, face.pose.pitch_deg, face.pose.roll_deg
            )?;
            if let Some(eyes) = &face.eyes {
                writeln!(
                    out,
                    "  eyes open: left {:.2}, right {:.2}",
                    eyes.left_open_probability, eyes.right_open_probability
                )?;
            }
            if let Some(live) = &face.liveness {
                writeln!(
                    out,
                    "  liveness: live probability {:.2}",
                    live.live_probability
                )?;
            }
        }
    }
    writeln!(out, "quality: {}", quality_line(&analysis.quality))?;
    for c in &analysis.quality.components {
        writeln!(
            out,
            "  {:<20} {:>9.2}  {}",
            serde_plain(&c.check).unwrap_or_default(),
            c.value,
            if c.passed { "ok" } else { "FAIL" }
        )?;
    }
    writeln!(out, "time: {:.1} ms", analysis.timings.total_ms)?;
    Ok(ExitCode::SUCCESS)
}

/// Every image of the set embedded once, and the pairs scored.
struct Evaluated {
    scored: Vec<Scored>,
    failures: usize,
    images: usize,
    failed_images: usize,
    wall_s: f64,
    mean_ms: BTreeMap<&'static str, f64>,
}

type Key = (ImageRef, bool);

fn select_pairs(set: &PairSet) -> anyhow::Result<Vec<Pair>> {
    let text = std::fs::read_to_string(&set.pairs)
        .with_context(|| format!("cannot read the pair list {}", set.pairs.display()))?;
    let mut pairs =
        parse_pairs(&text).with_context(|| format!("pair list {}", set.pairs.display()))?;
    if let Some(n) = set.limit {
        let folds = pairs.iter().map(|p| p.fold + 1).max().unwrap_or(1);
        let per = (n / (2 * folds)).max(1);
        let mut seen: BTreeMap<(usize, bool), usize> = BTreeMap::new();
        pairs.retain(|p| {
            let count = seen.entry((p.fold, p.genuine)).or_insert(0);
            *count += 1;
            *count <= per
        });
    }
    if pairs.is_empty() {
        bail!("the pair list {} names no pairs", set.pairs.display());
    }
    Ok(pairs)
}

fn embed_key(engine: &FaceEngine, root: &Path, key: &Key) -> anyhow::Result<(Embedding, [f64; 4])> {
    let path = key.0.path(root);
    let mut image = read_image(engine.pack(), &path)?;
    if key.1 {
        image = card_resolution(&image)?;
    }
    let (embedding, t) = engine.embed_still_timed(&image)?;
    Ok((
        embedding,
        [t.detect_ms, t.landmarks_ms, t.embed_ms, t.total_ms],
    ))
}

fn evaluate(settings: &PackSettings, set: &PairSet) -> anyhow::Result<Evaluated> {
    let pairs = select_pairs(set)?;
    // Fail early, on the main thread, when the models cannot be loaded.
    drop(load_engine(settings)?);
    let keys: Vec<Key> = pairs
        .iter()
        .flat_map(|p| [(p.first.clone(), false), (p.second.clone(), set.card_res)])
        .collect::<BTreeSet<Key>>()
        .into_iter()
        .collect();
    let started = Instant::now();
    let threads = set.threads.clamp(1, 16);
    let chunk = keys.len().div_ceil(threads).max(1);
    type Outcome = (Key, Result<(Embedding, [f64; 4]), String>);
    let results: Vec<Outcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = keys
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let engine = match FaceEngine::load(settings) {
                        Ok(engine) => engine,
                        Err(error) => {
                            return part
                                .iter()
                                .map(|k| (k.clone(), Err(error.to_string())))
                                .collect::<Vec<Outcome>>();
                        }
                    };
                    part.iter()
                        .map(|k| {
                            let result =
                                embed_key(&engine, &set.root, k).map_err(|e| format!("{e:#}"));
                            (k.clone(), result)
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let wall_s = started.elapsed().as_secs_f64();
    let mut cache: BTreeMap<Key, Embedding> = BTreeMap::new();
    let mut sums = [0.0f64; 4];
    let mut failed_images = 0usize;
    let mut problems: BTreeMap<String, usize> = BTreeMap::new();
    for (key, result) in results {
        match result {
            Ok((embedding, t)) => {
                for (sum, value) in sums.iter_mut().zip(t) {
                    *sum += value;
                }
                cache.insert(key, embedding);
            }
            Err(problem) => {
                failed_images += 1;
                // The image path names a person: report the kind of problem, not the file.
                let kind = problem.rsplit(": ").next().unwrap_or("").to_owned();
                *problems.entry(kind).or_insert(0) += 1;
            }
        }
    }
    for (problem, count) in &problems {
        tracing::warn!(images = count, problem = %problem, "images without a usable face");
    }
    let mut failures = 0usize;
    let scored = pairs
        .iter()
        .map(|p| {
            let first = cache.get(&(p.first.clone(), false));
            let second = cache.get(&(p.second.clone(), set.card_res));
            let score = match (first, second) {
                (Some(x), Some(y)) => x.cosine(y).unwrap_or(-1.0),
                _ => {
                    failures += 1;
                    -1.0
                }
            };
            Scored {
                fold: p.fold,
                genuine: p.genuine,
                score,
            }
        })
        .collect();
    let ok = cache.len().max(1) as f64;
    let mean_ms = ["detect", "landmarks", "embed", "total"]
        .into_iter()
        .zip(sums)
        .map(|(name, sum)| (name, sum / ok))
        .collect();
    Ok(Evaluated {
        scored,
        failures,
        images: keys.len(),
        failed_images,
        wall_s,
        mean_ms,
    })
}

fn eval(settings: &PackSettings, set: &PairSet, json: bool) -> anyhow::Result<ExitCode> {
    let e = evaluate(settings, set)?;
    let m = metrics(&e.scored, e.failures);
    let mut out = std::io::stdout().lock();
    if json {
        let mut value = serde_json::to_value(&m)?;
        if let serde_json::Value::Object(map) = &mut value {
            map.insert("card_res".into(), set.card_res.into());
            map.insert("images".into(), e.images.into());
            map.insert("images_without_face".into(), e.failed_images.into());
            map.insert("wall_seconds".into(), e.wall_s.into());
            map.insert(
                "mean_ms_per_image".into(),
                serde_json::to_value(&e.mean_ms)?,
            );
        }
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        writeln!(
            out,
            "{} pairs ({} with an image without a usable face), {} images in {:.0} s",
            m.pairs, m.failures, e.images, e.wall_s
        )?;
        writeln!(out, "accuracy (k-fold)  {:.4}", m.accuracy_kfold)?;
        writeln!(out, "TAR @ FAR 1e-2     {:.4}", m.tar_at_far_1e_2)?;
        writeln!(out, "TAR @ FAR 1e-3     {:.4}", m.tar_at_far_1e_3)?;
        writeln!(out, "EER                {:.4}", m.eer)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn calibrate(
    settings: &PackSettings,
    set: &PairSet,
    far: f64,
    out_path: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    if !(far > 0.0 && far < 1.0) {
        bail!("--far {far} is out of range; allowed: a rate between 0 and 1, e.g. 1e-3");
    }
    let impostors = select_pairs(set)?.iter().filter(|p| !p.genuine).count();
    if (impostors as f64) * far < 1.0 {
        bail!(
            "{impostors} impostor pairs cannot measure a false-accept rate of {far}; \
             use a larger pair list or a larger --far"
        );
    }
    let engine = load_engine(settings)?;
    let e = evaluate(settings, set)?;
    let (tar, threshold) = enroll_face::eval::tar_at_far(&e.scored, far);
    // Evaluation accepts `score > threshold`, the engine `score >= threshold`: round up so that
    // no impostor score at the threshold is accepted.
    let threshold = (threshold * 1e4).floor() / 1e4 + 1e-4;
    let mut snippet = format!(
        "# Written by `kiosk face calibrate --far {far}` on {} pairs ({} impostor) from {}{}.\n\
         # TAR at this threshold: {tar:.4}. Paste into the pack's engine.toml, replacing [decision].\n\
         [decision]\nthreshold_cosine = {threshold:.4}\n\n[decision.calibrated_models_sha256]\n",
        e.scored.len(),
        impostors,
        set.pairs.display(),
        if set.card_res {
            " (card resolution)"
        } else {
            ""
        },
    );
    for (role, sha) in engine.models_sha256() {
        snippet.push_str(&format!("{role} = \"{sha}\"\n"));
    }
    match out_path {
        Some(path) => {
            std::fs::write(path, &snippet)
                .with_context(|| format!("cannot write {}", path.display()))?;
            writeln!(
                std::io::stderr(),
                "threshold_cosine {threshold:.4} (TAR {tar:.4} at FAR {far}) written to {}",
                path.display()
            )?;
        }
        None => write!(std::io::stdout(), "{snippet}")?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `--side` of `kiosk face challenge`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ChallengeSide {
    Left,
    Right,
}

impl From<ChallengeSide> for TurnSide {
    fn from(side: ChallengeSide) -> TurnSide {
        match side {
            ChallengeSide::Left => TurnSide::Left,
            ChallengeSide::Right => TurnSide::Right,
        }
    }
}

fn challenge(
    settings: &PackSettings,
    side: TurnSide,
    fps: u32,
    frames: &[PathBuf],
    json: bool,
) -> anyhow::Result<ExitCode> {
    let Some(thresholds) = settings.challenge() else {
        bail!(
            "the pack \"{}\" does not measure what the challenge needs (eye aspect ratio and yaw \
             from a face mesh); use --pack open",
            settings.name()
        );
    };
    if fps == 0 {
        bail!("--fps must be at least 1");
    }
    let engine = load_engine(settings)?;
    let frame_ms = 1000 / u64::from(fps);
    let mut run = Challenge::start(thresholds, side, 0);
    let mut out = std::io::stdout().lock();
    let mut steps = Vec::new();
    let mut progress = run.progress(0);
    let mut last_ms = 0;
    for (index, path) in frames.iter().enumerate() {
        last_ms = index as u64 * frame_ms;
        let image = read_image(settings, path)?;
        let analysis = engine
            .analyze_frame(&image)
            .with_context(|| format!("image {}", path.display()))?;
        let seen = enroll_face::evidence::challenge_observation(&analysis, last_ms);
        progress = run.observe(seen);
        if !json {
            writeln!(
                out,
                "{:>6} ms  {}  eyes {:.3}  yaw {:+.1} deg  -> {}",
                last_ms,
                path.display(),
                seen.eye_aspect_ratio,
                seen.yaw_deg,
                progress_text(progress)
            )?;
        }
        steps.push(serde_json::json!({
            "at_ms": last_ms,
            "frame": path.display().to_string(),
            "one_face": seen.one_face,
            "eye_aspect_ratio": seen.one_face.then_some(seen.eye_aspect_ratio),
            "yaw_deg": seen.one_face.then_some(seen.yaw_deg),
            "progress": progress_text(progress),
        }));
        if !matches!(progress, Progress::Asking(_)) {
            break;
        }
    }
    // Frames that end before the challenge does: the applicant stopped; time runs out.
    if matches!(progress, Progress::Asking(_)) {
        last_ms = thresholds.time_limit_ms + 1;
        progress = run.progress(last_ms);
    }
    let outcome = run.outcome(last_ms);
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "outcome": outcome,
                "frames": steps,
            }))?
        )?;
    } else {
        writeln!(out, "result: {}", progress_text(progress))?;
    }
    Ok(if outcome.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn progress_text(progress: Progress) -> String {
    match progress {
        Progress::Asking(Prompt::Blink) => "asking: blink".into(),
        Progress::Asking(Prompt::Turn(TurnSide::Left)) => "asking: turn left".into(),
        Progress::Asking(Prompt::Turn(TurnSide::Right)) => "asking: turn right".into(),
        Progress::Passed => "passed".into(),
        Progress::Failed(why) => format!(
            "failed ({})",
            serde_plain(&why).unwrap_or_else(|| format!("{why:?}"))
        ),
    }
}
