//! dlib's model files, read natively: the serialisation primitives of `dlib/serialize.h`
//! ([`dat`]) and the face recogniser `dlib_face_recognition_resnet_model_v1.dat` ([`resnet`]), a
//! 29-convolution ResNet run on the built-in executor (`enroll_cnn`), the 5-point shape predictor
//! ([`shape`]) and the aligned face chip the recogniser takes ([`chip`]). Their numbers are pinned to
//! dlib's own (the `dlib-bin` wheel) by golden-vector tests. It reads no file: bytes come in.

pub mod chip;
pub mod dat;
pub mod resnet;
pub mod shape;

/// Why a dlib file cannot be used. The offset says where reading stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DlibError {
    #[error("the dlib model file is malformed at byte {offset}: {detail}")]
    Malformed { offset: usize, detail: String },
    #[error("the dlib model file ends early (at byte {offset}, reading {what})")]
    Truncated { offset: usize, what: &'static str },
    #[error("the dlib model is not the network this reader knows: {0}")]
    Unexpected(String),
    #[error("the dlib network cannot be prepared: {0}")]
    Network(String),
}
