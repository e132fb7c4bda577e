//! Decoding of document photos to RGB for the face engine: JPEG 2000 (JP2 file or raw J2K
//! codestream, as in ICAO DG2) with the pure-Rust `hayro-jpeg2000` decoder. It does not decode
//! JPEG (the face engine's own image decoder does), WLT or BMP, and it does not judge quality.

use enroll_core::domain::document::Photo;

/// Largest photo this decoder accepts, in pixels (a DG2 face is far smaller).
pub const MAX_PHOTO_PIXELS: u64 = 4096 * 4096;

/// An 8-bit RGB image, rows top to bottom, pixels interleaved `R G B`.
#[derive(Clone, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width_px: u32,
    /// Height in pixels.
    pub height_px: u32,
    /// `width_px * height_px * 3` bytes.
    pub rgb: Vec<u8>,
}

impl std::fmt::Debug for RgbImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The pixels are a face: never print them.
        write!(f, "RgbImage({}x{})", self.width_px, self.height_px)
    }
}

/// Why a photo could not be decoded. No image content in the messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhotoError {
    /// This decoder handles JPEG 2000 only.
    #[error("this photo is {format}, not JPEG 2000; decode it with the face engine's decoder")]
    NotJpeg2000 {
        /// The photo's format.
        format: &'static str,
    },
    /// The JPEG 2000 data is damaged or uses a feature the decoder lacks.
    #[error("the JPEG 2000 photo cannot be decoded ({reason}); use the printed photo")]
    Damaged {
        /// The decoder's reason.
        reason: String,
    },
    /// The image is implausibly large.
    #[error("the photo is {width_px}x{height_px} pixels, larger than a document photo can be")]
    TooLarge {
        /// Width.
        width_px: u32,
        /// Height.
        height_px: u32,
    },
    /// A colour space this function does not convert (e.g. CMYK).
    #[error("the photo's colour space ({channels} channels) is not supported")]
    UnsupportedColourSpace {
        /// Channels per pixel.
        channels: usize,
    },
}

/// Decodes a JPEG 2000 photo to 8-bit RGB (grey is expanded, alpha dropped).
pub fn decode_photo(photo: &Photo) -> Result<RgbImage, PhotoError> {
    let bytes = match photo {
        Photo::Jpeg2000(bytes) => bytes,
        Photo::Jpeg(_) => return Err(PhotoError::NotJpeg2000 { format: "JPEG" }),
        Photo::Bmp(_) => return Err(PhotoError::NotJpeg2000 { format: "BMP" }),
        Photo::Undecoded { .. } => {
            return Err(PhotoError::NotJpeg2000 {
                format: "undecoded",
            });
        }
        Photo::Absent => return Err(PhotoError::NotJpeg2000 { format: "absent" }),
    };
    // The decoder is third-party code fed with chip data: contain a panic as a damaged photo.
    std::panic::catch_unwind(|| decode_jpeg2000(bytes)).unwrap_or_else(|_| {
        Err(PhotoError::Damaged {
            reason: "the decoder failed".into(),
        })
    })
}

fn decode_jpeg2000(bytes: &[u8]) -> Result<RgbImage, PhotoError> {
    let damaged = |e: hayro_jpeg2000::error::DecodeError| PhotoError::Damaged {
        reason: e.to_string(),
    };
    let image = hayro_jpeg2000::Image::new(bytes, &hayro_jpeg2000::DecodeSettings::default())
        .map_err(damaged)?;
    let (width_px, height_px) = (image.width(), image.height());
    if u64::from(width_px) * u64::from(height_px) > MAX_PHOTO_PIXELS
        || width_px == 0
        || height_px == 0
    {
        return Err(PhotoError::TooLarge {
            width_px,
            height_px,
        });
    }
    let has_alpha = image.has_alpha();
    let mut context = hayro_jpeg2000::DecoderContext::default();
    let decoded = image.decode(&mut context).map_err(damaged)?;
    let samples = decoded.data_u8();
    let pixels = usize::try_from(u64::from(width_px) * u64::from(height_px)).unwrap_or(usize::MAX);
    let channels = samples.len().checked_div(pixels).unwrap_or(0);
    let colour_channels = channels.saturating_sub(usize::from(has_alpha));
    let rgb: Vec<u8> = match colour_channels {
        1 => samples
            .chunks_exact(channels)
            .flat_map(|p| {
                let grey = p.first().copied().unwrap_or(0);
                [grey, grey, grey]
            })
            .collect(),
        3 => samples
            .chunks_exact(channels)
            .flat_map(|p| p.iter().take(3).copied())
            .collect(),
        _ => return Err(PhotoError::UnsupportedColourSpace { channels }),
    };
    if rgb.len() != pixels * 3 {
        return Err(PhotoError::Damaged {
            reason: "the decoded size does not match the header".into(),
        });
    }
    Ok(RgbImage {
        width_px,
        height_px,
        rgb,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FACE_JP2: &[u8] = include_bytes!("../../../../tests/fixtures/face-48x64.jp2");

    #[test]
    fn a_jp2_face_decodes_to_rgb_of_its_size() {
        let image = decode_photo(&Photo::Jpeg2000(FACE_JP2.to_vec())).unwrap();
        assert_eq!((image.width_px, image.height_px), (48, 64));
        assert_eq!(image.rgb.len(), 48 * 64 * 3);
        // The fixture is a warm gradient with a dark ellipse: not a blank image.
        let (min, max) = image
            .rgb
            .iter()
            .fold((255u8, 0u8), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
        assert!(max - min > 50, "range {min}..{max}");
    }

    #[test]
    fn truncated_jpeg2000_is_damaged_or_partial_never_a_panic() {
        // The decoder is lenient: a codestream cut in the middle still yields a (coarser)
        // picture. A cut header cannot.
        for len in (0..FACE_JP2.len()).step_by(97) {
            let _ = decode_photo(&Photo::Jpeg2000(FACE_JP2[..len].to_vec()));
        }
        for len in [0, 8, 40] {
            let photo = Photo::Jpeg2000(FACE_JP2[..len].to_vec());
            let result = decode_photo(&photo);
            assert!(
                matches!(result, Err(PhotoError::Damaged { .. })),
                "{len} bytes: {result:?}"
            );
        }
    }

    #[test]
    fn jpeg_is_left_to_the_face_engine() {
        assert_eq!(
            decode_photo(&Photo::Jpeg(vec![0xFF, 0xD8])),
            Err(PhotoError::NotJpeg2000 { format: "JPEG" })
        );
    }
}
