//! Owns model files: reading them, checking their SHA-256, preparing them for a fixed input
//! shape (the built-in executor when it takes the graph, else a tract plan), and turning image
//! patches into NCHW tensors. It knows nothing about what the outputs mean.

use image::RgbImage;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tract_onnx::prelude::*;

use super::error::FaceError;
use super::imaging::luma;
use super::settings::{ChannelOrder, ModelFile, OnnxExecutor, TensorInput};
use enroll_cnn::{Isa, Network};

type Plan = Arc<TypedRunnableModel>;

/// What runs a model.
enum Runtime {
    BuiltIn(Network),
    Tract(Plan),
}

/// Reads a model file and checks its hash; returns the bytes and their SHA-256 (hex).
pub fn read_checked(role: &str, file: &ModelFile) -> Result<(Vec<u8>, String), FaceError> {
    let bytes = std::fs::read(&file.path).map_err(|source| FaceError::ModelRead {
        role: role.to_string(),
        path: file.path.display().to_string(),
        source,
    })?;
    let actual = sha256_hex(&bytes);
    if let Some(expected) = &file.sha256
        && !expected.eq_ignore_ascii_case(&actual)
    {
        return Err(FaceError::ModelHashMismatch {
            role: role.to_string(),
            path: file.path.display().to_string(),
            expected: expected.clone(),
            actual,
        });
    }
    Ok((bytes, actual))
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// An optimised ONNX model with one fixed-shape image input.
pub struct OnnxModel {
    role: String,
    runtime: Runtime,
    input: TensorInput,
    sha256: String,
}

impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxModel")
            .field("role", &self.role)
            .field("sha256", &self.sha256)
            .field("runtime", &self.runtime_name())
            .finish_non_exhaustive()
    }
}

impl OnnxModel {
    /// Loads, hash-checks and prepares a model for a `1 x C x H x W` f32 input: with the
    /// built-in executor when `executor` allows and the graph is one it fully understands,
    /// otherwise optimised by tract.
    pub fn load(
        role: &str,
        file: &ModelFile,
        input: &TensorInput,
        executor: OnnxExecutor,
    ) -> Result<Self, FaceError> {
        let (bytes, sha256) = read_checked(role, file)?;
        let shape = [
            input.channels(),
            input.height_px as usize,
            input.width_px as usize,
        ];
        let runtime = match executor {
            OnnxExecutor::Auto => match Network::from_onnx(&bytes, shape, Isa::detect()) {
                Ok(network) => Some(Runtime::BuiltIn(network)),
                Err(reason) => {
                    tracing::debug!(role, %reason, "model runs on tract");
                    None
                }
            },
            OnnxExecutor::Tract => None,
        };
        let runtime = match runtime {
            Some(runtime) => runtime,
            None => Runtime::Tract(tract_plan(role, bytes, shape)?),
        };
        Ok(OnnxModel {
            role: role.to_string(),
            runtime,
            input: input.clone(),
            sha256,
        })
    }

    /// What runs this model: `built-in/avx512`, `built-in/avx2-fma`, `built-in/portable` or
    /// `tract`.
    pub fn runtime_name(&self) -> String {
        match &self.runtime {
            Runtime::BuiltIn(network) => format!("built-in/{}", network.isa()),
            Runtime::Tract(_) => "tract".to_string(),
        }
    }

    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    pub fn input(&self) -> &TensorInput {
        &self.input
    }

    /// Runs the model on a patch that already has the input size; returns every output flattened.
    pub fn run_patch(&self, patch: &RgbImage) -> Result<Vec<Vec<f32>>, FaceError> {
        let data = patch_to_nchw(patch, &self.input);
        self.run_raw(data)
    }

    /// Runs the model on raw NCHW data of the configured shape.
    pub fn run_raw(&self, data: Vec<f32>) -> Result<Vec<Vec<f32>>, FaceError> {
        let shape = [
            1usize,
            self.input.channels(),
            self.input.height_px as usize,
            self.input.width_px as usize,
        ];
        let expected: usize = shape.iter().product();
        if data.len() != expected {
            return Err(FaceError::UnexpectedOutput {
                role: format!("{} input", self.role),
                expected,
                got: data.len(),
            });
        }
        match &self.runtime {
            Runtime::BuiltIn(network) => network
                .run(data)
                .map_err(|e| FaceError::inference(&self.role, e)),
            Runtime::Tract(plan) => run_tract(plan, &self.role, &shape, &data),
        }
    }

    /// Output `index`, checked to have exactly `len` values.
    pub fn output(
        &self,
        outputs: &[Vec<f32>],
        index: usize,
        len: usize,
    ) -> Result<Vec<f32>, FaceError> {
        let out = outputs
            .get(index)
            .ok_or_else(|| FaceError::UnexpectedOutput {
                role: self.role.clone(),
                expected: len,
                got: 0,
            })?;
        if out.len() != len {
            return Err(FaceError::UnexpectedOutput {
                role: self.role.clone(),
                expected: len,
                got: out.len(),
            });
        }
        Ok(out.clone())
    }
}

fn tract_plan(role: &str, bytes: Vec<u8>, [c, h, w]: [usize; 3]) -> Result<Plan, FaceError> {
    let load_err = |e: TractError| FaceError::ModelLoad {
        role: role.to_string(),
        detail: format!("{e:#}"),
    };
    let mut onnx = tract_onnx::onnx();
    super::prelu::register(&mut onnx);
    onnx.model_for_read(&mut std::io::Cursor::new(bytes))
        .map_err(load_err)?
        .with_input_fact(0, f32::fact([1, c, h, w]).into())
        .map_err(load_err)?
        .into_optimized()
        .map_err(load_err)?
        .into_runnable()
        .map_err(load_err)
}

fn run_tract(
    plan: &Plan,
    role: &str,
    shape: &[usize],
    data: &[f32],
) -> Result<Vec<Vec<f32>>, FaceError> {
    let tensor = Tensor::from_shape(shape, data).map_err(|e| FaceError::inference(role, e))?;
    let outputs = plan
        .run(tvec!(tensor.into()))
        .map_err(|e| FaceError::inference(role, e))?;
    let mut result = Vec::with_capacity(outputs.len());
    for out in outputs.iter() {
        let view = out
            .try_as_plain_ram()
            .map_err(|e| FaceError::inference(role, e))?;
        let slice = view
            .as_slice::<f32>()
            .map_err(|e| FaceError::inference(role, e))?;
        result.push(slice.to_vec());
    }
    Ok(result)
}

/// Converts a patch (any size; only the overlapping area with the input size is read) into
/// normalised NCHW data.
pub fn patch_to_nchw(patch: &RgbImage, input: &TensorInput) -> Vec<f32> {
    let w = input.width_px as usize;
    let h = input.height_px as usize;
    let plane = w * h;
    let mut data = vec![0f32; plane * input.channels()];
    for (x, y, p) in patch.enumerate_pixels() {
        let (x, y) = (x as usize, y as usize);
        if x >= w || y >= h {
            continue;
        }
        let idx = y * w + x;
        let [r, g, b] = [f32::from(p.0[0]), f32::from(p.0[1]), f32::from(p.0[2])];
        let values: [f32; 3] = match input.channel_order {
            ChannelOrder::Rgb => [r, g, b],
            ChannelOrder::Bgr => [b, g, r],
            ChannelOrder::Grey => [luma(p), 0.0, 0.0],
        };
        for (c, v) in values.iter().enumerate().take(input.channels()) {
            let mean = input.mean.get(c).copied().unwrap_or(0.0);
            let scale = input.scale.get(c).copied().unwrap_or(1.0);
            if let Some(slot) = data.get_mut(c * plane + idx) {
                *slot = (v - mean) * scale;
            }
        }
    }
    data
}

/// Numerically stable softmax.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|v| (v - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    if sum > 0.0 && sum.is_finite() {
        exps.iter().map(|e| e / sum).collect()
    } else {
        vec![0.0; logits.len()]
    }
}
