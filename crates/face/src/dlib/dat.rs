//! The primitives of dlib's serialisation (`dlib/serialize.h`), as its model files use them:
//! integers as a control byte (length in the low nibble, sign in bit 7) and that many
//! little-endian magnitude bytes; floats as an integer mantissa and an integer exponent
//! (value = mantissa · 2^exponent); strings length-first; bools as ASCII `'1'`/`'0'`; tensors as a
//! version, four dimensions and raw little-endian `f32`s.

use super::DlibError;

/// A cursor over a dlib file's bytes.
pub struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, offset: 0 }
    }

    /// Where the next read starts.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Whether every byte was read.
    pub fn at_end(&self) -> bool {
        self.offset == self.bytes.len()
    }

    pub fn malformed(&self, detail: impl Into<String>) -> DlibError {
        DlibError::Malformed {
            offset: self.offset,
            detail: detail.into(),
        }
    }

    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], DlibError> {
        let slice = self
            .bytes
            .get(self.offset..self.offset.saturating_add(len))
            .ok_or(DlibError::Truncated {
                offset: self.offset,
                what,
            })?;
        self.offset += len;
        Ok(slice)
    }

    /// A signed integer of any C++ width.
    pub fn int(&mut self) -> Result<i64, DlibError> {
        let start = self.offset;
        let control = *self.take(1, "an integer")?.first().unwrap_or(&0);
        let len = usize::from(control & 0x0F);
        if len == 0 || len > 8 || control & 0x70 != 0 {
            return Err(DlibError::Malformed {
                offset: start,
                detail: format!("integer control byte {control:#04x}"),
            });
        }
        let magnitude = self
            .take(len, "an integer")?
            .iter()
            .rev()
            .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte));
        let magnitude = i64::try_from(magnitude).map_err(|_| DlibError::Malformed {
            offset: start,
            detail: "an integer beyond 63 bits".into(),
        })?;
        Ok(if control & 0x80 != 0 {
            -magnitude
        } else {
            magnitude
        })
    }

    /// An integer that must be at least zero and fit `usize`.
    pub fn size(&mut self) -> Result<usize, DlibError> {
        let start = self.offset;
        let value = self.int()?;
        usize::try_from(value).map_err(|_| DlibError::Malformed {
            offset: start,
            detail: format!("a negative size {value}"),
        })
    }

    /// A float or double (mantissa, then exponent).
    pub fn float(&mut self) -> Result<f64, DlibError> {
        let start = self.offset;
        let mantissa = self.int()?;
        let exponent = self.int()?;
        Ok(match exponent {
            32000 => f64::INFINITY,
            32001 => f64::NEG_INFINITY,
            32002 => f64::NAN,
            e if (-2000..=2000).contains(&e) => {
                // Exact: the mantissa has at most 53 significant bits in these files.
                (mantissa as f64) * 2f64.powi(i32::try_from(e).unwrap_or(0))
            }
            e => {
                return Err(DlibError::Malformed {
                    offset: start,
                    detail: format!("a float exponent {e}"),
                });
            }
        })
    }

    pub fn string(&mut self) -> Result<String, DlibError> {
        let len = self.size()?;
        let bytes = self.take(len, "a string")?;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.malformed("a string that is not UTF-8"))
    }

    /// Reads a string and checks it is `expected`.
    pub fn expect_string(&mut self, expected: &str) -> Result<(), DlibError> {
        let start = self.offset;
        let found = self.string()?;
        if found == expected {
            Ok(())
        } else {
            Err(DlibError::Malformed {
                offset: start,
                detail: format!("{found:?} where {expected:?} belongs"),
            })
        }
    }

    pub fn bool(&mut self) -> Result<bool, DlibError> {
        let start = self.offset;
        match self.take(1, "a bool")?.first() {
            Some(b'1') => Ok(true),
            Some(b'0') => Ok(false),
            other => Err(DlibError::Malformed {
                offset: start,
                detail: format!("bool byte {other:?}"),
            }),
        }
    }

    /// A tensor with its data: (num_samples, k, nr, nc) and the values in that order.
    pub fn tensor(&mut self) -> Result<([usize; 4], Vec<f32>), DlibError> {
        let start = self.offset;
        let version = self.int()?;
        if version != 2 {
            return Err(DlibError::Malformed {
                offset: start,
                detail: format!("tensor version {version}"),
            });
        }
        let dims = [self.size()?, self.size()?, self.size()?, self.size()?];
        let count = dims
            .iter()
            .try_fold(1usize, |acc, d| acc.checked_mul(*d))
            .filter(|count| *count <= self.bytes.len() / 4)
            .ok_or_else(|| self.malformed(format!("tensor dimensions {dims:?}")))?;
        let data = self
            .take(count * 4, "tensor data")?
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(<[u8; 4]>::try_from(b).unwrap_or_default()))
            .collect();
        Ok((dims, data))
    }

    /// A tensor view's shape (no data).
    pub fn alias(&mut self) -> Result<[usize; 4], DlibError> {
        let start = self.offset;
        let version = self.int()?;
        if version != 1 {
            return Err(DlibError::Malformed {
                offset: start,
                detail: format!("alias tensor version {version}"),
            });
        }
        Ok([self.size()?, self.size()?, self.size()?, self.size()?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_floats_strings_and_bools_read_as_dlib_writes_them() {
        // Bytes from dlib_face_recognition_resnet_model_v1.dat (offsets 0x0, 0x11, 0x17, 0x138)
        // and values dlib's serialize.h gives for them.
        let bytes = [
            0x01, 0x01, // int 1
            0x02, 0x00, 0x01, // int 256
            0x81, 0x1c, // int -28
            0x03, 0x0a, 0xd7, 0xa3, 0x81, 0x1c, // float 0.04
            0x03, 0x62, 0x90, 0xf5, 0x81, 0x11, // float 122.782
            0x01, 0x05, b'c', b'o', b'n', b'_', b'4', // "con_4"
            b'1', b'0',
        ];
        let mut reader = Reader::new(&bytes);
        assert_eq!(reader.int(), Ok(1));
        assert_eq!(reader.int(), Ok(256));
        assert_eq!(reader.int(), Ok(-28));
        assert!((reader.float().unwrap() - 0.04).abs() < 1e-8);
        assert!((reader.float().unwrap() - 122.782).abs() < 1e-4);
        assert_eq!(reader.string().as_deref(), Ok("con_4"));
        assert_eq!(reader.bool(), Ok(true));
        assert_eq!(reader.bool(), Ok(false));
        assert!(reader.at_end());
        assert!(matches!(reader.int(), Err(DlibError::Truncated { .. })));
    }

    #[test]
    fn bad_bytes_are_refused_with_their_offset() {
        assert!(matches!(
            Reader::new(&[0x00]).int(),
            Err(DlibError::Malformed { offset: 0, .. })
        ));
        assert!(matches!(
            Reader::new(&[0x05, 1, 2]).int(),
            Err(DlibError::Truncated { .. })
        ));
        assert!(Reader::new(b"x").bool().is_err());
        // A tensor claiming more values than the file could hold.
        let huge = [
            0x01, 0x02, 0x04, 0xff, 0xff, 0xff, 0x7f, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
        ];
        assert!(Reader::new(&huge).tensor().is_err());
    }
}
