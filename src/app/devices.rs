//! Opens the camera and the card reader the configuration names, behind one trait so tests and the
//! demo can hand the app other devices. It starts no threads and no emulators (the demo services
//! do that) and decides nothing about the flow.

use std::path::{Path, PathBuf};

use crate::config::{CameraConfig, CameraSource, CardReaderConfig, Config};
use crate::devices::camera::files::FileCamera;
use crate::devices::camera::v4l2::V4l2Camera;
use crate::devices::camera::{Camera, CameraError};
use crate::devices::card::pcsc_icao::{PcscIcaoReader, load_csca_dir};
use crate::devices::card::sam_serial::{SamReaderOptions, SamSerialReader};
use crate::devices::card::wlt::WltDecoder;
use crate::devices::card::{CardError, CardReader};

/// The line speed of the SAM emulator's pseudo-terminal (any rate works on a pty).
const EMULATOR_BAUD: u32 = 115_200;

/// Where the app gets its devices. Each call opens a fresh device; the app drops it when the
/// flow no longer needs it.
pub trait Devices: Send + Sync {
    /// Opens the camera.
    fn open_camera(&self) -> Result<Box<dyn Camera>, CameraError>;
    /// Opens the identity-card reader.
    fn open_card_reader(&self) -> Result<Box<dyn CardReader>, CardError>;
}

/// The devices of a configuration file.
pub struct ConfiguredDevices {
    camera: CameraConfig,
    card_reader: CardReaderConfig,
    wlt_decoder: WltDecoder,
}

/// Why the configured devices cannot be prepared (before anything is opened).
#[derive(Debug, thiserror::Error)]
pub enum DevicesError {
    /// The emulated card's picture cannot be read or decoded.
    #[error(
        "card_reader.card_photo_file {path}: {detail}; run scripts/setup.sh to make the demo pictures"
    )]
    CardPhoto {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

/// The emulated card's picture as BMP bytes (what a licensed WLT decoder hands over).
fn emulated_photo_bitmap(path: &Path) -> Result<Vec<u8>, DevicesError> {
    let failed = |detail: String| DevicesError::CardPhoto {
        path: path.to_path_buf(),
        detail,
    };
    let picture = image::open(path).map_err(|e| failed(e.to_string()))?;
    let mut bitmap = std::io::Cursor::new(Vec::new());
    picture
        .to_rgb8()
        .write_to(&mut bitmap, image::ImageFormat::Bmp)
        .map_err(|e| failed(e.to_string()))?;
    Ok(bitmap.into_inner())
}

impl ConfiguredDevices {
    /// Prepares the devices of `config` (reads the emulated card's picture, if one is named).
    pub fn new(config: &Config) -> Result<ConfiguredDevices, DevicesError> {
        let wlt_decoder = match &config.card_reader {
            CardReaderConfig::SamEmulator {
                card_photo_file: Some(path),
                ..
            } => WltDecoder::Emulated {
                bitmap: emulated_photo_bitmap(path)?,
            },
            _ => WltDecoder::None,
        };
        Ok(ConfiguredDevices {
            camera: config.camera.clone(),
            card_reader: config.card_reader.clone(),
            wlt_decoder,
        })
    }
}

impl Devices for ConfiguredDevices {
    fn open_camera(&self) -> Result<Box<dyn Camera>, CameraError> {
        let camera = &self.camera;
        match &camera.source {
            CameraSource::Files { frames_dir } => Ok(Box::new(FileCamera::open(
                frames_dir,
                camera.width_px,
                camera.height_px,
                camera.frame_rate_fps,
            )?)),
            CameraSource::V4l2 { device_index } => Ok(Box::new(V4l2Camera::open(
                *device_index,
                camera.width_px,
                camera.height_px,
                camera.frame_rate_fps,
            )?)),
        }
    }

    fn open_card_reader(&self) -> Result<Box<dyn CardReader>, CardError> {
        match &self.card_reader {
            CardReaderConfig::SamSerial { port, baud } => Ok(Box::new(
                SamSerialReader::open_serial(port, *baud, SamReaderOptions::default())?,
            )),
            CardReaderConfig::SamEmulator { link_path, .. } => {
                let options = SamReaderOptions {
                    wlt_decoder: self.wlt_decoder.clone(),
                    ..SamReaderOptions::default()
                };
                Ok(Box::new(SamSerialReader::open_serial(
                    link_path,
                    EMULATOR_BAUD,
                    options,
                )?))
            }
            CardReaderConfig::Pcsc {
                reader_name,
                csca_dir,
            } => {
                let csca = match csca_dir {
                    Some(dir) => load_csca_dir(dir)?,
                    None => Vec::new(),
                };
                let clock = Box::new(|| crate::app::sync_runner::unix_now_ms() / 1000);
                Ok(Box::new(PcscIcaoReader::new(
                    reader_name.clone(),
                    csca,
                    clock,
                )))
            }
        }
    }
}
