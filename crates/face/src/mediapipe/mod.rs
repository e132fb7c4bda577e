//! Google's MediaPipe face models in the open pack (Apache-2.0): the BlazeFace short-range
//! detector ([`blazeface`]) and FaceMesh with Iris ([`mesh`]), as ONNX files converted from the
//! TFLite originals at set-up and run on tract. Their raw outputs are pinned to Google's TFLite
//! runtime by golden-vector tests. It reads no file itself besides the model files it is given.

pub mod blazeface;
pub mod mesh;
