//! QR codes of token text: drawing one into grey pixels (error correction M for screens, Q for
//! paper) and finding them in grey pixels (a scanner's frame, a photo of a phone). Image files
//! are the caller's.

use qrcode::{EcLevel, QrCode};

/// Where a QR is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Medium {
    /// A phone or monitor: error correction M.
    Screen,
    /// Printed: error correction Q survives smudges and folds.
    Paper,
}

/// A grey image, row by row, 0 = black.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GreyImage {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

/// Why text cannot become a QR.
#[derive(Debug, thiserror::Error)]
#[error("the token does not fit in a QR code: {0}")]
pub struct QrError(String);

/// A QR code's modules, row by row, without the quiet zone: what a page draws on a canvas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modules {
    /// Modules per side.
    pub side: usize,
    /// `true` = dark, `side * side` entries.
    pub dark: Vec<bool>,
}

impl Modules {
    /// Packed 8 modules a byte, most significant bit first (the last byte padded with light).
    pub fn packed(&self) -> Vec<u8> {
        self.dark
            .chunks(8)
            .map(|chunk| {
                chunk
                    .iter()
                    .enumerate()
                    .fold(0u8, |byte, (i, &dark)| byte | (u8::from(dark) << (7 - i)))
            })
            .collect()
    }
}

/// The modules of `text` as a QR on `medium`.
pub fn modules(text: &str, medium: Medium) -> Result<Modules, QrError> {
    let level = match medium {
        Medium::Screen => EcLevel::M,
        Medium::Paper => EcLevel::Q,
    };
    let code = QrCode::with_error_correction_level(text.as_bytes(), level)
        .map_err(|error| QrError(error.to_string()))?;
    Ok(Modules {
        side: code.width(),
        dark: code
            .to_colors()
            .iter()
            .map(|color| *color == qrcode::Color::Dark)
            .collect(),
    })
}

/// Draws `text` as a QR with `module_px` pixels per module and the 4-module quiet zone.
pub fn render(text: &str, medium: Medium, module_px: usize) -> Result<GreyImage, QrError> {
    let Modules {
        side: modules,
        dark,
    } = self::modules(text, medium)?;
    let module_px = module_px.max(1);
    let side = (modules + 8) * module_px;
    let mut pixels = vec![255u8; side * side];
    for (index, is_dark) in dark.iter().enumerate() {
        if !is_dark {
            continue;
        }
        let (mx, my) = (index % modules + 4, index / modules + 4);
        for y in my * module_px..(my + 1) * module_px {
            let row = y * side;
            if let Some(span) = pixels.get_mut(row + mx * module_px..row + (mx + 1) * module_px) {
                span.fill(0);
            }
        }
    }
    Ok(GreyImage {
        width: side,
        height: side,
        pixels,
    })
}

/// The QR version (1–40) `text` needs on `medium`.
pub fn version(text: &str, medium: Medium) -> Option<i16> {
    let level = match medium {
        Medium::Screen => EcLevel::M,
        Medium::Paper => EcLevel::Q,
    };
    match QrCode::with_error_correction_level(text.as_bytes(), level)
        .ok()?
        .version()
    {
        qrcode::Version::Normal(v) => Some(v),
        qrcode::Version::Micro(_) => None,
    }
}

/// The text of every QR code found in a grey image: `rqrr` first (fast; it finds upright codes of
/// any size and turned ones up to about version 15), then ZXing's reader (`rxing`), which also
/// finds dense codes turned or tilted in a photo.
pub fn decode(image: &GreyImage) -> Vec<String> {
    let found = decode_rqrr(image);
    if !found.is_empty() {
        return found;
    }
    let (Ok(width), Ok(height)) = (u32::try_from(image.width), u32::try_from(image.height)) else {
        return Vec::new();
    };
    let pixels = image.pixels.clone();
    // A port of a large Java library: a picture it chokes on must not end the verifier.
    std::panic::catch_unwind(move || {
        let mut hints = rxing::DecodeHints::default().with(rxing::DecodeHintValue::TryHarder(true));
        rxing::helpers::detect_in_luma_with_hints(
            pixels,
            width,
            height,
            Some(rxing::BarcodeFormat::QR_CODE),
            &mut hints,
        )
        .map(|result| vec![result.getText().to_owned()])
        .unwrap_or_default()
    })
    .unwrap_or_default()
}

fn decode_rqrr(image: &GreyImage) -> Vec<String> {
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(image.width, image.height, |x, y| {
            image
                .pixels
                .get(y * image.width + x)
                .copied()
                .unwrap_or(255)
        });
    prepared
        .detect_grids()
        .into_iter()
        .filter_map(|grid| grid.decode().ok().map(|(_, text)| text))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drawn_code_reads_back() {
        let text = "6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3/XIV0W23NTDEXWK G2EP4J0BGJLFX";
        let image = render(text, Medium::Screen, 3).unwrap();
        assert_eq!(decode(&image), vec![text.to_owned()]);
    }
}
