//! ICAO 9303-10 Logical Data Structure files: a bounded BER-TLV parser and encoder, EF.COM, DG1
//! (MRZ), DG2 (ISO/IEC 19794-5 face records and their JPEG / JPEG 2000 images) and the structure
//! of EF.SOD (data group hashes, certificates). Does not read files from a chip, decrypt secure
//! messaging or verify EF.SOD signatures.

use std::fmt;

use thiserror::Error;

use crate::domain::document::{Photo, UndecodedFormat};
use crate::domain::mrz::{Mrz, MrzError};

/// Deepest nesting [`validate_tree`] follows by default; LDS files nest at most four levels.
pub const DEFAULT_MAX_DEPTH: usize = 8;

/// A BER-TLV tag, its bytes read big-endian into a number (`0x7F61`, `0x5F1F`, `0x61`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(pub u32);

impl Tag {
    /// EF.COM template.
    pub const EF_COM: Tag = Tag(0x60);
    /// LDS version number in EF.COM.
    pub const LDS_VERSION: Tag = Tag(0x5F01);
    /// Unicode version in EF.COM.
    pub const UNICODE_VERSION: Tag = Tag(0x5F36);
    /// Tag list in EF.COM.
    pub const TAG_LIST: Tag = Tag(0x5C);
    /// DG1 template.
    pub const DG1: Tag = Tag(0x61);
    /// MRZ data element in DG1.
    pub const MRZ: Tag = Tag(0x5F1F);
    /// DG2 template.
    pub const DG2: Tag = Tag(0x75);
    /// Biometric information group template.
    pub const BIOMETRIC_GROUP: Tag = Tag(0x7F61);
    /// Number of instances in a biometric group.
    pub const INSTANCE_COUNT: Tag = Tag(0x02);
    /// Biometric information template.
    pub const BIOMETRIC_INFO: Tag = Tag(0x7F60);
    /// Biometric header template.
    pub const BIOMETRIC_HEADER: Tag = Tag(0xA1);
    /// Biometric data block.
    pub const BIOMETRIC_DATA: Tag = Tag(0x5F2E);
    /// Biometric data block (enciphered/constructed form).
    pub const BIOMETRIC_DATA_CONSTRUCTED: Tag = Tag(0x7F2E);
    /// EF.SOD template.
    pub const EF_SOD: Tag = Tag(0x77);

    /// The tag's bytes as they appear on the wire.
    pub fn to_bytes(self) -> Vec<u8> {
        let bytes = self.0.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count().min(3);
        bytes.get(skip..).unwrap_or(&bytes).to_vec()
    }

    /// True for constructed tags (bit 6 of the first byte), whose value is more TLVs.
    pub fn is_constructed(self) -> bool {
        self.to_bytes().first().is_some_and(|b| b & 0x20 != 0)
    }

    /// The data group number (1–16) for a DG template tag as listed in EF.COM, if it is one.
    pub fn data_group_number(self) -> Option<u8> {
        Some(match self.0 {
            0x61 => 1,
            0x75 => 2,
            0x63 => 3,
            0x76 => 4,
            0x65..=0x70 => u8::try_from(self.0 - 0x65 + 5).ok()?,
            _ => return None,
        })
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({self})")
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.to_bytes() {
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

/// Errors in BER-TLV structure.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TlvError {
    /// The input ends inside a tag, length or value.
    #[error(
        "data ends early: {needed} more bytes needed; the file was not read completely, re-read it"
    )]
    Truncated {
        /// Bytes missing (0 when the tag or length itself is cut).
        needed: usize,
    },
    /// A tag longer than four bytes.
    #[error("a tag is longer than four bytes; the file is damaged, re-read it")]
    TagTooLong,
    /// Indefinite length (`80`), not allowed in LDS files.
    #[error("indefinite length is not allowed in document files; the file is damaged, re-read it")]
    IndefiniteLength,
    /// A length field of more than four bytes.
    #[error("a length field is longer than four bytes; the file is damaged, re-read it")]
    LengthTooLong,
    /// Nesting deeper than allowed.
    #[error(
        "data is nested deeper than {max_depth} levels; the file is damaged or hostile, re-read it"
    )]
    DepthExceeded {
        /// The limit.
        max_depth: usize,
    },
    /// A value too long to encode.
    #[error("a value of {len} bytes is too long to encode")]
    ValueTooLong {
        /// Its length.
        len: usize,
    },
}

/// Errors reading an LDS file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LdsError {
    /// The TLV structure is broken.
    #[error(transparent)]
    Tlv(#[from] TlvError),
    /// The file starts with another tag than expected.
    #[error(
        "expected tag {expected} but found {found}; the chip returned another file, re-read it"
    )]
    UnexpectedTag {
        /// Tag wanted.
        expected: Tag,
        /// Tag found.
        found: Tag,
    },
    /// A required element is missing.
    #[error("element {tag} is missing from {within}; the file is incomplete, re-read it")]
    MissingElement {
        /// Missing tag.
        tag: Tag,
        /// Enclosing file or template.
        within: &'static str,
    },
    /// An element that must be ASCII is not.
    #[error("element {tag} is not ASCII text; the file is damaged, re-read it")]
    NotAscii {
        /// The element.
        tag: Tag,
    },
    /// The MRZ in DG1 is invalid.
    #[error("the machine-readable zone in the chip is invalid: {0}")]
    Mrz(#[from] MrzError),
    /// The ISO/IEC 19794-5 face record is malformed.
    #[error("the face record in the chip is malformed ({problem}); re-read the chip")]
    FaceRecord {
        /// What is wrong.
        problem: &'static str,
    },
    /// EF.SOD content is malformed.
    #[error("the document security object is malformed ({problem}); re-read the chip")]
    Sod {
        /// What is wrong.
        problem: &'static str,
    },
    /// A face record version this kiosk does not parse.
    #[error(
        "face record version {version:?} is not supported; the photo cannot be shown, check the printed photo"
    )]
    UnsupportedFaceRecordVersion {
        /// The four version bytes as text.
        version: String,
    },
}

/// One TLV element borrowed from its input.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag.
    pub tag: Tag,
    /// The value bytes.
    pub value: &'a [u8],
}

impl fmt::Debug for Tlv<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may be personal data.
        write!(f, "Tlv({}, <{} bytes>)", self.tag, self.value.len())
    }
}

fn parse_tag(input: &[u8]) -> Result<(Tag, &[u8]), TlvError> {
    let (&first, mut rest) = input
        .split_first()
        .ok_or(TlvError::Truncated { needed: 0 })?;
    let mut tag = u32::from(first);
    if first & 0x1F == 0x1F {
        loop {
            let (&byte, tail) = rest
                .split_first()
                .ok_or(TlvError::Truncated { needed: 0 })?;
            rest = tail;
            if tag > 0x00FF_FFFF {
                return Err(TlvError::TagTooLong);
            }
            tag = (tag << 8) | u32::from(byte);
            if byte & 0x80 == 0 {
                break;
            }
        }
    }
    Ok((Tag(tag), rest))
}

fn parse_length(input: &[u8]) -> Result<(usize, &[u8]), TlvError> {
    let (&first, rest) = input
        .split_first()
        .ok_or(TlvError::Truncated { needed: 0 })?;
    match first {
        0x00..=0x7F => Ok((usize::from(first), rest)),
        0x80 => Err(TlvError::IndefiniteLength),
        0x81..=0x84 => {
            let count = usize::from(first & 0x7F);
            let (bytes, rest) = rest
                .split_at_checked(count)
                .ok_or(TlvError::Truncated { needed: 0 })?;
            let len = bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            Ok((len, rest))
        }
        _ => Err(TlvError::LengthTooLong),
    }
}

impl<'a> Tlv<'a> {
    /// Parses one element from the front of `input`; returns it and the bytes after it.
    pub fn parse(input: &'a [u8]) -> Result<(Self, &'a [u8]), TlvError> {
        let (tag, rest) = parse_tag(input)?;
        let (len, rest) = parse_length(rest)?;
        let (value, rest) = rest.split_at_checked(len).ok_or(TlvError::Truncated {
            needed: len.saturating_sub(rest.len()),
        })?;
        Ok((Self { tag, value }, rest))
    }

    /// The elements inside this element's value.
    pub fn children(&self) -> Result<Vec<Tlv<'a>>, TlvError> {
        parse_all(self.value)
    }

    /// The first child with `tag`, if any.
    pub fn child(&self, tag: Tag) -> Result<Option<Tlv<'a>>, TlvError> {
        Ok(self.children()?.into_iter().find(|child| child.tag == tag))
    }
}

/// Parses consecutive elements filling all of `input`.
pub fn parse_all(mut input: &[u8]) -> Result<Vec<Tlv<'_>>, TlvError> {
    let mut elements = Vec::new();
    while !input.is_empty() {
        let (element, rest) = Tlv::parse(input)?;
        elements.push(element);
        input = rest;
    }
    Ok(elements)
}

/// Checks that `input` is well-formed TLV all the way down through constructed tags, at most
/// `max_depth` levels deep.
pub fn validate_tree(input: &[u8], max_depth: usize) -> Result<(), TlvError> {
    fn walk(input: &[u8], depth: usize, max_depth: usize) -> Result<(), TlvError> {
        if depth > max_depth {
            return Err(TlvError::DepthExceeded { max_depth });
        }
        for element in parse_all(input)? {
            if element.tag.is_constructed() {
                walk(element.value, depth + 1, max_depth)?;
            }
        }
        Ok(())
    }
    walk(input, 1, max_depth)
}

/// Encodes one element with the shortest definite length form.
pub fn encode_tlv(tag: Tag, value: &[u8]) -> Result<Vec<u8>, TlvError> {
    let len = value.len();
    let mut out = tag.to_bytes();
    match len {
        0..=0x7F => out.push(len as u8),
        _ => {
            let len32 = u32::try_from(len).map_err(|_| TlvError::ValueTooLong { len })?;
            let bytes = len32.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            let significant = bytes.get(skip..).unwrap_or(&bytes);
            out.push(0x80 | significant.len() as u8);
            out.extend_from_slice(significant);
        }
    }
    out.extend_from_slice(value);
    Ok(out)
}

/// Parses the element a file starts with and checks its tag. Bytes after it (padding from a
/// whole-file read) are ignored.
fn file_element(bytes: &[u8], expected: Tag) -> Result<Tlv<'_>, LdsError> {
    let (element, _padding) = Tlv::parse(bytes)?;
    if element.tag != expected {
        return Err(LdsError::UnexpectedTag {
            expected,
            found: element.tag,
        });
    }
    Ok(element)
}

fn required_child<'a>(
    parent: &Tlv<'a>,
    tag: Tag,
    within: &'static str,
) -> Result<Tlv<'a>, LdsError> {
    parent
        .child(tag)?
        .ok_or(LdsError::MissingElement { tag, within })
}

fn ascii(element: &Tlv<'_>) -> Result<String, LdsError> {
    if element.value.is_ascii() {
        Ok(element.value.iter().map(|b| char::from(*b)).collect())
    } else {
        Err(LdsError::NotAscii { tag: element.tag })
    }
}

/// EF.COM: LDS and Unicode versions and the list of data groups present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EfCom {
    /// LDS version, four digits (`0107` = 1.7).
    pub lds_version: String,
    /// Unicode version, six digits (`040000` = 4.0.0).
    pub unicode_version: String,
    /// Tags of the data groups present (`61` DG1, `75` DG2…).
    pub data_group_tags: Vec<Tag>,
}

impl EfCom {
    /// Parses EF.COM (`60`).
    pub fn parse(bytes: &[u8]) -> Result<Self, LdsError> {
        let file = file_element(bytes, Tag::EF_COM)?;
        let lds_version = ascii(&required_child(&file, Tag::LDS_VERSION, "EF.COM")?)?;
        let unicode_version = ascii(&required_child(&file, Tag::UNICODE_VERSION, "EF.COM")?)?;
        let list = required_child(&file, Tag::TAG_LIST, "EF.COM")?;
        let mut data_group_tags = Vec::new();
        let mut rest = list.value;
        while !rest.is_empty() {
            let (tag, tail) = parse_tag(rest)?;
            data_group_tags.push(tag);
            rest = tail;
        }
        Ok(Self {
            lds_version,
            unicode_version,
            data_group_tags,
        })
    }

    /// The data group numbers present, in list order.
    pub fn data_groups(&self) -> Vec<u8> {
        self.data_group_tags
            .iter()
            .filter_map(|tag| tag.data_group_number())
            .collect()
    }

    /// Encodes EF.COM.
    pub fn encode(&self) -> Result<Vec<u8>, TlvError> {
        let mut inner = encode_tlv(Tag::LDS_VERSION, self.lds_version.as_bytes())?;
        inner.extend(encode_tlv(
            Tag::UNICODE_VERSION,
            self.unicode_version.as_bytes(),
        )?);
        let list: Vec<u8> = self
            .data_group_tags
            .iter()
            .flat_map(|t| t.to_bytes())
            .collect();
        inner.extend(encode_tlv(Tag::TAG_LIST, &list)?);
        encode_tlv(Tag::EF_COM, &inner)
    }
}

/// Parses DG1 (`61` → `5F1F`) and verifies the MRZ's check digits.
pub fn parse_dg1(bytes: &[u8]) -> Result<Mrz, LdsError> {
    let file = file_element(bytes, Tag::DG1)?;
    let mrz = ascii(&required_child(&file, Tag::MRZ, "DG1")?)?;
    Ok(Mrz::parse(&mrz)?)
}

/// Encodes DG1 from the MRZ characters (lines joined without separators).
pub fn encode_dg1(mrz: &str) -> Result<Vec<u8>, TlvError> {
    encode_tlv(Tag::DG1, &encode_tlv(Tag::MRZ, mrz.as_bytes())?)
}

/// The eMRTD application identifier (ICAO 9303-10), selected before any file of the chip.
pub const EMRTD_AID: [u8; 7] = [0xA0, 0x00, 0x00, 0x02, 0x47, 0x10, 0x01];

/// Magic of a JPEG file.
pub const JPEG_MAGIC: [u8; 2] = [0xFF, 0xD8];
/// Magic of a JP2 file (signature box).
pub const JP2_MAGIC: [u8; 8] = [0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20];
/// Magic of a raw JPEG 2000 codestream (SOC + SIZ markers).
pub const J2K_MAGIC: [u8; 4] = [0xFF, 0x4F, 0xFF, 0x51];

/// Wraps image bytes in the `Photo` variant their magic bytes announce.
pub fn classify_image(bytes: Vec<u8>) -> Photo {
    if bytes.starts_with(&JPEG_MAGIC) {
        Photo::Jpeg(bytes)
    } else if bytes.starts_with(&JP2_MAGIC) || bytes.starts_with(&J2K_MAGIC) {
        Photo::Jpeg2000(bytes)
    } else {
        Photo::Undecoded {
            format: UndecodedFormat::Unrecognized,
            bytes,
        }
    }
}

/// One face image from DG2. The photo's `Debug` shows only format and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaceImage {
    /// ISO/IEC 19794-5 image data type: 0 JPEG, 1 JPEG 2000.
    pub image_data_type: u8,
    /// Width in pixels as recorded.
    pub width: u16,
    /// Height in pixels as recorded.
    pub height: u16,
    /// The image, classified by its magic bytes.
    pub photo: Photo,
}

/// ISO/IEC 19794-5:2005 sizes.
const FACE_HEADER_LEN: usize = 14;
const FACIAL_INFO_LEN: usize = 20;
const FEATURE_POINT_LEN: usize = 8;
const IMAGE_INFO_LEN: usize = 12;

fn be_u16(bytes: &[u8], at: usize) -> Option<u16> {
    match bytes.get(at..at + 2)? {
        &[a, b] => Some(u16::from_be_bytes([a, b])),
        _ => None,
    }
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    match bytes.get(at..at + 4)? {
        &[a, b, c, d] => Some(u32::from_be_bytes([a, b, c, d])),
        _ => None,
    }
}

/// Parses an ISO/IEC 19794-5 (version `010`) face record into its images, following the record's
/// own length fields.
pub fn parse_face_record(record: &[u8]) -> Result<Vec<FaceImage>, LdsError> {
    let malformed = |problem| LdsError::FaceRecord { problem };
    if !record.starts_with(b"FAC\0") {
        return Err(malformed("it does not start with FAC"));
    }
    let version = record
        .get(4..8)
        .ok_or(malformed("the header is truncated"))?;
    if version != b"010\0" {
        return Err(LdsError::UnsupportedFaceRecordVersion {
            version: version
                .iter()
                .map(|b| {
                    if b.is_ascii_graphic() {
                        char::from(*b)
                    } else {
                        '.'
                    }
                })
                .collect(),
        });
    }
    let record_len = be_u32(record, 8).ok_or(malformed("the header is truncated"))?;
    let count = be_u16(record, 12).ok_or(malformed("the header is truncated"))?;
    let record_len =
        usize::try_from(record_len).map_err(|_| malformed("the record length is too large"))?;
    if record_len > record.len() || record_len < FACE_HEADER_LEN {
        return Err(malformed("the record length does not match the data"));
    }
    let mut rest = record.get(FACE_HEADER_LEN..record_len).unwrap_or_default();
    let mut images = Vec::with_capacity(usize::from(count).min(4));
    for _ in 0..count {
        let block_len =
            be_u32(rest, 0).ok_or(malformed("a facial information block is truncated"))?;
        let block_len =
            usize::try_from(block_len).map_err(|_| malformed("a block length is too large"))?;
        let (block, tail) = rest
            .split_at_checked(block_len)
            .ok_or(malformed("a facial block is longer than the record"))?;
        rest = tail;
        let points = usize::from(
            be_u16(block, 4).ok_or(malformed("a facial information block is truncated"))?,
        );
        let info_at = FACIAL_INFO_LEN + points * FEATURE_POINT_LEN;
        let info = block
            .get(info_at..info_at + IMAGE_INFO_LEN)
            .ok_or(malformed("the image information is truncated"))?;
        let image = block.get(info_at + IMAGE_INFO_LEN..).unwrap_or_default();
        let (image_data_type, width, height) = match info {
            &[_face_type, data_type, w0, w1, h0, h1, ..] => (
                data_type,
                u16::from_be_bytes([w0, w1]),
                u16::from_be_bytes([h0, h1]),
            ),
            _ => return Err(malformed("the image information is truncated")),
        };
        if image.is_empty() {
            return Err(malformed("an image is empty"));
        }
        images.push(FaceImage {
            image_data_type,
            width,
            height,
            photo: classify_image(image.to_vec()),
        });
    }
    if images.is_empty() {
        return Err(malformed("it holds no image"));
    }
    Ok(images)
}

/// Encodes an ISO/IEC 19794-5 version `010` record holding one image, no feature points.
pub fn encode_face_record(image: &FaceImage) -> Result<Vec<u8>, LdsError> {
    let too_long = LdsError::FaceRecord {
        problem: "the image is too large",
    };
    let bytes = image.photo.bytes().unwrap_or_default();
    let block_len = FACIAL_INFO_LEN + IMAGE_INFO_LEN + bytes.len();
    let record_len = u32::try_from(FACE_HEADER_LEN + block_len).map_err(|_| too_long.clone())?;
    let block_len = u32::try_from(block_len).map_err(|_| too_long)?;
    let mut out =
        Vec::with_capacity(FACE_HEADER_LEN + FACIAL_INFO_LEN + IMAGE_INFO_LEN + bytes.len());
    out.extend_from_slice(b"FAC\x00010\x00");
    out.extend_from_slice(&record_len.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    // Facial information: length, no feature points, gender/eye/hair unspecified, empty feature
    // mask, expression unspecified, pose angles and uncertainties zero.
    out.extend_from_slice(&block_len.to_be_bytes());
    out.extend_from_slice(&[0u8; FACIAL_INFO_LEN - 4]);
    // Image information: basic face type, data type, size, colour space 24-bit RGB, source
    // static photo from a digital still camera, device type unspecified, quality unspecified.
    out.extend_from_slice(&[0x01, image.image_data_type]);
    out.extend_from_slice(&image.width.to_be_bytes());
    out.extend_from_slice(&image.height.to_be_bytes());
    out.extend_from_slice(&[0x01, 0x02, 0x00, 0x00, 0x00, 0x00]);
    out.extend_from_slice(bytes);
    Ok(out)
}

/// Parses DG2 (`75` → `7F61` → `7F60` → `5F2E`/`7F2E`) into its face images.
pub fn parse_dg2(bytes: &[u8]) -> Result<Vec<FaceImage>, LdsError> {
    let file = file_element(bytes, Tag::DG2)?;
    let group = required_child(&file, Tag::BIOMETRIC_GROUP, "DG2")?;
    let mut images = Vec::new();
    for info in group
        .children()?
        .into_iter()
        .filter(|c| c.tag == Tag::BIOMETRIC_INFO)
    {
        let data = info
            .children()?
            .into_iter()
            .find(|c| c.tag == Tag::BIOMETRIC_DATA || c.tag == Tag::BIOMETRIC_DATA_CONSTRUCTED)
            .ok_or(LdsError::MissingElement {
                tag: Tag::BIOMETRIC_DATA,
                within: "DG2 biometric information template",
            })?;
        images.extend(parse_face_record(data.value)?);
    }
    if images.is_empty() {
        return Err(LdsError::MissingElement {
            tag: Tag::BIOMETRIC_INFO,
            within: "DG2",
        });
    }
    Ok(images)
}

/// The first face image of DG2 as a photo.
pub fn dg2_photo(bytes: &[u8]) -> Result<Photo, LdsError> {
    parse_dg2(bytes)?
        .into_iter()
        .next()
        .map(|image| image.photo)
        .ok_or(LdsError::MissingElement {
            tag: Tag::BIOMETRIC_INFO,
            within: "DG2",
        })
}

/// Encodes DG2 with one biometric information template per image, each with the ICAO biometric
/// header (`A1`: header version 0101, type facial features 02, format owner 0101 = ISO/IEC JTC 1
/// SC 37, format type 0008 = face image).
pub fn encode_dg2(images: &[FaceImage]) -> Result<Vec<u8>, LdsError> {
    let count = u8::try_from(images.len()).map_err(|_| LdsError::FaceRecord {
        problem: "more than 255 images",
    })?;
    let header: Vec<u8> = [
        encode_tlv(Tag(0x80), &[0x01, 0x01])?,
        encode_tlv(Tag(0x81), &[0x02])?,
        encode_tlv(Tag(0x87), &[0x01, 0x01])?,
        encode_tlv(Tag(0x88), &[0x00, 0x08])?,
    ]
    .concat();
    let mut group = encode_tlv(Tag::INSTANCE_COUNT, &[count])?;
    for image in images {
        let mut info = encode_tlv(Tag::BIOMETRIC_HEADER, &header)?;
        info.extend(encode_tlv(
            Tag::BIOMETRIC_DATA,
            &encode_face_record(image)?,
        )?);
        group.extend(encode_tlv(Tag::BIOMETRIC_INFO, &info)?);
    }
    Ok(encode_tlv(
        Tag::DG2,
        &encode_tlv(Tag::BIOMETRIC_GROUP, &group)?,
    )?)
}

/// OID of CMS SignedData (1.2.840.113549.1.7.2).
pub const OID_SIGNED_DATA: &str = "1.2.840.113549.1.7.2";
/// OID of the ICAO LDS security object (2.23.136.1.1.1).
pub const OID_LDS_SECURITY_OBJECT: &str = "2.23.136.1.1.1";

const SEQUENCE: Tag = Tag(0x30);
const SET: Tag = Tag(0x31);
const INTEGER: Tag = Tag(0x02);
const OCTET_STRING: Tag = Tag(0x04);
const OBJECT_IDENTIFIER: Tag = Tag(0x06);
const CONTEXT_0: Tag = Tag(0xA0);

/// Decodes a DER object identifier value into dotted form.
pub fn decode_oid(value: &[u8]) -> Option<String> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut current: u64 = 0;
    for (index, byte) in value.iter().enumerate() {
        if current == 0 && *byte == 0x80 {
            return None; // non-minimal encoding
        }
        current = current.checked_mul(128)? | u64::from(byte & 0x7F);
        if byte & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (current / 40).min(2);
                arcs.push(first);
                arcs.push(current - first * 40);
            } else {
                arcs.push(current);
            }
            current = 0;
        } else if index + 1 == value.len() {
            return None;
        }
    }
    if arcs.is_empty() {
        return None;
    }
    Some(
        arcs.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("."),
    )
}

/// Encodes a dotted object identifier as DER value bytes.
pub fn encode_oid(dotted: &str) -> Option<Vec<u8>> {
    let arcs: Vec<u64> = dotted
        .split('.')
        .map(|a| a.parse().ok())
        .collect::<Option<_>>()?;
    let (first, second, rest) = match arcs.as_slice() {
        [first @ 0..=2, second, rest @ ..] => (*first, *second, rest),
        _ => return None,
    };
    if first < 2 && second >= 40 {
        return None;
    }
    let mut out = Vec::new();
    for arc in
        std::iter::once(first.checked_mul(40)?.checked_add(second)?).chain(rest.iter().copied())
    {
        let mut groups = vec![(arc & 0x7F) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            groups.push(0x80 | (rest & 0x7F) as u8);
            rest >>= 7;
        }
        out.extend(groups.iter().rev());
    }
    Some(out)
}

fn der_child<'a>(
    parent: &Tlv<'a>,
    index: usize,
    tag: Tag,
    within: &'static str,
) -> Result<Tlv<'a>, LdsError> {
    let child = parent
        .children()?
        .into_iter()
        .nth(index)
        .ok_or(LdsError::MissingElement { tag, within })?;
    if child.tag != tag {
        return Err(LdsError::UnexpectedTag {
            expected: tag,
            found: child.tag,
        });
    }
    Ok(child)
}

fn small_integer(element: &Tlv<'_>) -> Result<u32, LdsError> {
    match element.value {
        [] => Err(LdsError::Sod {
            problem: "an integer is empty",
        }),
        bytes if bytes.len() > 4 || bytes.first().is_some_and(|b| b & 0x80 != 0) => {
            Err(LdsError::Sod {
                problem: "an integer is negative or too large",
            })
        }
        bytes => Ok(bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b))),
    }
}

fn oid(element: &Tlv<'_>) -> Result<String, LdsError> {
    decode_oid(element.value).ok_or(LdsError::Sod {
        problem: "an object identifier is malformed",
    })
}

/// Hash algorithms used in LDS security objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashAlgorithm {
    /// SHA-1 (1.3.14.3.2.26).
    Sha1,
    /// SHA-224 (2.16.840.1.101.3.4.2.4).
    Sha224,
    /// SHA-256 (2.16.840.1.101.3.4.2.1).
    Sha256,
    /// SHA-384 (2.16.840.1.101.3.4.2.2).
    Sha384,
    /// SHA-512 (2.16.840.1.101.3.4.2.3).
    Sha512,
    /// Any other algorithm, by OID.
    Other(String),
}

impl HashAlgorithm {
    /// The algorithm for a dotted OID.
    pub fn from_oid(oid: &str) -> Self {
        match oid {
            "1.3.14.3.2.26" => Self::Sha1,
            "2.16.840.1.101.3.4.2.4" => Self::Sha224,
            "2.16.840.1.101.3.4.2.1" => Self::Sha256,
            "2.16.840.1.101.3.4.2.2" => Self::Sha384,
            "2.16.840.1.101.3.4.2.3" => Self::Sha512,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The dotted OID.
    pub fn oid(&self) -> &str {
        match self {
            Self::Sha1 => "1.3.14.3.2.26",
            Self::Sha224 => "2.16.840.1.101.3.4.2.4",
            Self::Sha256 => "2.16.840.1.101.3.4.2.1",
            Self::Sha384 => "2.16.840.1.101.3.4.2.2",
            Self::Sha512 => "2.16.840.1.101.3.4.2.3",
            Self::Other(oid) => oid,
        }
    }
}

/// The LDS security object: the hash of every data group, as signed by the document signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdsSecurityObject {
    /// Version (0 for LDS 1.7, 1 for LDS 1.8 with version info).
    pub version: u32,
    /// Hash algorithm of the data group hashes.
    pub hash_algorithm: HashAlgorithm,
    /// (data group number, hash) pairs.
    pub data_group_hashes: Vec<(u8, Vec<u8>)>,
}

impl LdsSecurityObject {
    /// Parses the DER `LDSSecurityObject`.
    pub fn parse(der: &[u8]) -> Result<Self, LdsError> {
        let (object, _) = Tlv::parse(der)?;
        if object.tag != SEQUENCE {
            return Err(LdsError::UnexpectedTag {
                expected: SEQUENCE,
                found: object.tag,
            });
        }
        let within = "LDS security object";
        let version = small_integer(&der_child(&object, 0, INTEGER, within)?)?;
        let algorithm = der_child(&object, 1, SEQUENCE, within)?;
        let hash_algorithm =
            HashAlgorithm::from_oid(&oid(&der_child(&algorithm, 0, OBJECT_IDENTIFIER, within)?)?);
        let mut data_group_hashes = Vec::new();
        for entry in der_child(&object, 2, SEQUENCE, within)?.children()? {
            let number = small_integer(&der_child(&entry, 0, INTEGER, within)?)?;
            let number = u8::try_from(number)
                .ok()
                .filter(|n| (1..=16).contains(n))
                .ok_or(LdsError::Sod {
                    problem: "a data group number is outside 1 to 16",
                })?;
            let hash = der_child(&entry, 1, OCTET_STRING, within)?;
            data_group_hashes.push((number, hash.value.to_vec()));
        }
        Ok(Self {
            version,
            hash_algorithm,
            data_group_hashes,
        })
    }

    /// Encodes the DER `LDSSecurityObject` (for the virtual passport, which signs it).
    pub fn encode(&self) -> Result<Vec<u8>, LdsError> {
        let malformed = LdsError::Sod {
            problem: "the hash algorithm identifier is malformed",
        };
        let algorithm_oid = encode_oid(self.hash_algorithm.oid()).ok_or(malformed)?;
        let algorithm = encode_tlv(SEQUENCE, &encode_tlv(OBJECT_IDENTIFIER, &algorithm_oid)?)?;
        let mut hashes = Vec::new();
        for (number, hash) in &self.data_group_hashes {
            let entry = [
                encode_tlv(INTEGER, &[*number])?,
                encode_tlv(OCTET_STRING, hash)?,
            ]
            .concat();
            hashes.extend(encode_tlv(SEQUENCE, &entry)?);
        }
        let version = self.version.to_be_bytes();
        let skip = version.iter().take_while(|b| **b == 0).count().min(3);
        let version = version.get(skip..).unwrap_or(&[0]);
        let body = [
            encode_tlv(INTEGER, version)?,
            algorithm,
            encode_tlv(SEQUENCE, &hashes)?,
        ]
        .concat();
        Ok(encode_tlv(SEQUENCE, &body)?)
    }

    /// The stored hash of a data group, if listed.
    pub fn hash_of(&self, data_group: u8) -> Option<&[u8]> {
        self.data_group_hashes
            .iter()
            .find(|(number, _)| *number == data_group)
            .map(|(_, hash)| hash.as_slice())
    }
}

/// The parts of EF.SOD needed for passive authentication. The signature is NOT verified here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SodContents {
    /// The signed content (DER `LDSSecurityObject`), as its hash appears in the signed attributes.
    pub econtent: Vec<u8>,
    /// The parsed security object.
    pub security_object: LdsSecurityObject,
    /// DER certificates from the `certificates` field (normally the document signer certificate).
    pub certificates: Vec<Vec<u8>>,
    /// The DER `SET OF SignerInfo`, for signature verification elsewhere.
    pub signer_infos: Vec<u8>,
}

/// Parses EF.SOD (`77` → CMS `ContentInfo` → `SignedData`) and extracts the LDS security object,
/// certificates and signer infos. Checks the content types; does not verify any signature.
pub fn parse_sod(bytes: &[u8]) -> Result<SodContents, LdsError> {
    let file = file_element(bytes, Tag::EF_SOD)?;
    let within = "EF.SOD";
    let content_info = der_child(&file, 0, SEQUENCE, within)?;
    if oid(&der_child(&content_info, 0, OBJECT_IDENTIFIER, within)?)? != OID_SIGNED_DATA {
        return Err(LdsError::Sod {
            problem: "the content is not CMS signed data",
        });
    }
    let signed_data = der_child(
        &der_child(&content_info, 1, CONTEXT_0, within)?,
        0,
        SEQUENCE,
        within,
    )?;
    let parts = signed_data.children()?;
    let encap = parts
        .get(2)
        .filter(|p| p.tag == SEQUENCE)
        .ok_or(LdsError::MissingElement {
            tag: SEQUENCE,
            within: "EF.SOD signed data",
        })?;
    if oid(&der_child(encap, 0, OBJECT_IDENTIFIER, within)?)? != OID_LDS_SECURITY_OBJECT {
        return Err(LdsError::Sod {
            problem: "the signed content is not an LDS security object",
        });
    }
    let econtent = der_child(
        &der_child(encap, 1, CONTEXT_0, within)?,
        0,
        OCTET_STRING,
        within,
    )?
    .value;
    let certificates = match parts.get(3).filter(|p| p.tag == CONTEXT_0) {
        Some(set) => {
            let mut certificates = Vec::new();
            let mut rest = set.value;
            while !rest.is_empty() {
                let (_, tail) = Tlv::parse(rest)?;
                certificates.push(
                    rest.get(..rest.len() - tail.len())
                        .unwrap_or_default()
                        .to_vec(),
                );
                rest = tail;
            }
            certificates
        }
        None => Vec::new(),
    };
    let signer_infos =
        parts
            .iter()
            .rev()
            .find(|p| p.tag == SET)
            .ok_or(LdsError::MissingElement {
                tag: SET,
                within: "EF.SOD signed data",
            })?;
    Ok(SodContents {
        econtent: econtent.to_vec(),
        security_object: LdsSecurityObject::parse(econtent)?,
        certificates,
        signer_infos: encode_tlv(SET, signer_infos.value)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn multi_byte_tags_and_long_lengths_are_parsed() {
        let input = hex("7F61 03 020101 FF");
        let (element, rest) = Tlv::parse(&input).unwrap();
        assert_eq!(element.tag, Tag(0x7F61));
        assert_eq!(element.value, &[0x02, 0x01, 0x01]);
        assert_eq!(rest, &[0xFF]);
        let long = [hex("5F2E 82 0100"), vec![0xAB; 256]].concat();
        let (element, rest) = Tlv::parse(&long).unwrap();
        assert_eq!(element.tag, Tag(0x5F2E));
        assert_eq!(element.value.len(), 256);
        assert!(rest.is_empty());
        let input = hex("9F8101 01 AA");
        let (element, _) = Tlv::parse(&input).unwrap();
        assert_eq!(element.tag, Tag(0x9F8101));
    }

    #[test]
    fn broken_tlv_is_reported_not_panicked() {
        assert_eq!(Tlv::parse(&[]), Err(TlvError::Truncated { needed: 0 }));
        assert_eq!(
            Tlv::parse(&hex("5F")),
            Err(TlvError::Truncated { needed: 0 })
        );
        assert_eq!(
            Tlv::parse(&hex("61 05 0102")),
            Err(TlvError::Truncated { needed: 3 })
        );
        assert_eq!(
            Tlv::parse(&hex("61 82 01")),
            Err(TlvError::Truncated { needed: 0 })
        );
        assert_eq!(
            Tlv::parse(&hex("61 80 00 00")),
            Err(TlvError::IndefiniteLength)
        );
        assert_eq!(
            Tlv::parse(&hex("61 85 0000000001 00")),
            Err(TlvError::LengthTooLong)
        );
        assert_eq!(
            Tlv::parse(&hex("1F 81 81 81 81 01 00")),
            Err(TlvError::TagTooLong)
        );
    }

    #[test]
    fn nesting_beyond_the_depth_limit_is_refused() {
        let mut nested = encode_tlv(Tag(0x04), b"x").unwrap();
        for _ in 0..10 {
            nested = encode_tlv(Tag(0x30), &nested).unwrap();
        }
        assert_eq!(
            validate_tree(&nested, 8),
            Err(TlvError::DepthExceeded { max_depth: 8 })
        );
        assert_eq!(validate_tree(&nested, 11), Ok(()));
    }

    #[test]
    fn lengths_are_encoded_in_the_shortest_form() {
        assert_eq!(
            encode_tlv(Tag(0x5C), &[0; 0x7F]).unwrap()[..2],
            hex("5C 7F")[..]
        );
        assert_eq!(
            encode_tlv(Tag(0x5C), &[0; 0x80]).unwrap()[..3],
            hex("5C 81 80")[..]
        );
        assert_eq!(
            encode_tlv(Tag(0x5F2E), &[0; 0x100]).unwrap()[..5],
            hex("5F2E 82 0100")[..]
        );
        assert_eq!(
            encode_tlv(Tag(0x5C), &[0; 0x10000]).unwrap()[..5],
            hex("5C 83 010000")[..]
        );
    }

    #[test]
    fn ef_com_of_icao_appendix_d_is_parsed() {
        // ICAO 9303-11 Appendix D.4: the decrypted EF.COM of the worked example.
        let bytes = hex("60145F0104303130365F36063034303030305C026175");
        let com = EfCom::parse(&bytes).unwrap();
        assert_eq!(com.lds_version, "0106");
        assert_eq!(com.unicode_version, "040000");
        assert_eq!(com.data_group_tags, vec![Tag::DG1, Tag::DG2]);
        assert_eq!(com.data_groups(), vec![1, 2]);
        assert_eq!(com.encode().unwrap(), bytes);
    }

    #[test]
    fn ef_com_of_the_virtual_passport_in_the_protocol_doc_is_parsed() {
        // Protocol doc §3b: EF.COM served by the Rust virtual passport (LDS 1.7).
        let com = EfCom::parse(&hex("60145F0104303130375F36063034303030305C026175")).unwrap();
        assert_eq!(com.lds_version, "0107");
    }

    #[test]
    fn a_file_with_another_tag_is_named_in_the_error() {
        assert_eq!(
            EfCom::parse(&hex("61 00")),
            Err(LdsError::UnexpectedTag {
                expected: Tag::EF_COM,
                found: Tag::DG1
            })
        );
        assert_eq!(
            EfCom::parse(&hex("60 03 5C 01 61")),
            Err(LdsError::MissingElement {
                tag: Tag::LDS_VERSION,
                within: "EF.COM"
            })
        );
        assert_eq!(Tag(0x5F1F).to_string(), "5F1F");
    }

    const APPENDIX_D_MRZ: &str =
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<L898902C<3UTO6908061F9406236ZE184226B<<<<<14";

    #[test]
    fn dg1_round_trips_and_yields_the_checked_mrz() {
        let bytes = encode_dg1(APPENDIX_D_MRZ).unwrap();
        // 61 5B 5F1F 58 + 88 characters = 93 bytes, as in the protocol doc's read log (§3b).
        assert_eq!(bytes.len(), 93);
        assert_eq!(bytes[..5], hex("615B5F1F58")[..]);
        let mrz = parse_dg1(&bytes).unwrap();
        assert_eq!(
            mrz.access_key().mrz_information(),
            "L898902C<369080619406236"
        );
        let bad = encode_dg1(&APPENDIX_D_MRZ.replace("<14", "<15")).unwrap();
        assert!(matches!(
            parse_dg1(&bad),
            Err(LdsError::Mrz(MrzError::CheckDigit { .. }))
        ));
    }

    // A tiny stand-in JPEG: SOI, APP0 marker start and EOI; DG2 only inspects the magic.
    fn jpeg() -> Vec<u8> {
        hex("FFD8FFE000104A46494600FFD9")
    }

    #[test]
    fn dg2_with_each_image_format_is_parsed_and_classified() {
        let jp2 = [JP2_MAGIC.to_vec(), hex("0D0A870A")].concat();
        let j2k = [J2K_MAGIC.to_vec(), hex("002F0000")].concat();
        type IsExpected = fn(&Photo) -> bool;
        let cases: [(u8, Vec<u8>, IsExpected); 4] = [
            (0, jpeg(), |p| matches!(p, Photo::Jpeg(_))),
            (1, jp2, |p| matches!(p, Photo::Jpeg2000(_))),
            (1, j2k, |p| matches!(p, Photo::Jpeg2000(_))),
            (0, b"GIF89a".to_vec(), |p| {
                matches!(
                    p,
                    Photo::Undecoded {
                        format: UndecodedFormat::Unrecognized,
                        ..
                    }
                )
            }),
        ];
        for (data_type, bytes, is_expected) in cases {
            let image = FaceImage {
                image_data_type: data_type,
                width: 480,
                height: 640,
                photo: classify_image(bytes.clone()),
            };
            let dg2 = encode_dg2(std::slice::from_ref(&image)).unwrap();
            assert_eq!(dg2[0], 0x75);
            let parsed = parse_dg2(&dg2).unwrap();
            assert_eq!(parsed, vec![image]);
            assert!(is_expected(&parsed[0].photo));
            assert_eq!(parsed[0].photo.bytes().unwrap(), &bytes[..]);
            assert_eq!(validate_tree(&dg2, DEFAULT_MAX_DEPTH), Ok(()));
        }
    }

    #[test]
    fn face_record_layout_matches_iso_19794_5() {
        // Header 14 + facial information 20 + image information 12, then the image.
        let image = FaceImage {
            image_data_type: 0,
            width: 2,
            height: 3,
            photo: Photo::Jpeg(jpeg()),
        };
        let record = encode_face_record(&image).unwrap();
        assert_eq!(&record[..8], b"FAC\x00010\x00");
        assert_eq!(
            u32::from_be_bytes(record[8..12].try_into().unwrap()) as usize,
            record.len()
        );
        assert_eq!(&record[12..14], &[0, 1]);
        assert_eq!(
            u32::from_be_bytes(record[14..18].try_into().unwrap()) as usize,
            record.len() - 14
        );
        assert_eq!(&record[46..48], &JPEG_MAGIC);
    }

    #[test]
    fn face_record_with_feature_points_skips_them_by_count() {
        let image = FaceImage {
            image_data_type: 0,
            width: 2,
            height: 3,
            photo: Photo::Jpeg(jpeg()),
        };
        let mut record = encode_face_record(&image).unwrap();
        // Insert two feature points (8 bytes each) after the facial information block.
        record.splice(34..34, [0x11u8; 16]);
        record[18..20].copy_from_slice(&2u16.to_be_bytes());
        let record_len = record.len() as u32;
        record[8..12].copy_from_slice(&record_len.to_be_bytes());
        record[14..18].copy_from_slice(&(record_len - 14).to_be_bytes());
        assert_eq!(parse_face_record(&record).unwrap(), vec![image]);
    }

    #[test]
    fn malformed_face_records_are_reported() {
        let image = FaceImage {
            image_data_type: 0,
            width: 2,
            height: 3,
            photo: Photo::Jpeg(jpeg()),
        };
        let good = encode_face_record(&image).unwrap();
        let mut wrong_magic = good.clone();
        wrong_magic[0] = b'X';
        assert!(matches!(
            parse_face_record(&wrong_magic),
            Err(LdsError::FaceRecord { .. })
        ));
        let mut new_version = good.clone();
        new_version[4..8].copy_from_slice(b"030\0");
        assert_eq!(
            parse_face_record(&new_version),
            Err(LdsError::UnsupportedFaceRecordVersion {
                version: "030.".into()
            })
        );
        let truncated = &good[..good.len() - 1];
        assert!(matches!(
            parse_face_record(truncated),
            Err(LdsError::FaceRecord { .. })
        ));
        let mut too_many_points = good.clone();
        too_many_points[18..20].copy_from_slice(&100u16.to_be_bytes());
        assert!(matches!(
            parse_face_record(&too_many_points),
            Err(LdsError::FaceRecord { .. })
        ));
    }

    #[test]
    fn dg2_without_biometric_data_is_reported() {
        let empty_info = encode_tlv(
            Tag::BIOMETRIC_INFO,
            &encode_tlv(Tag::BIOMETRIC_HEADER, &[]).unwrap(),
        )
        .unwrap();
        let group = [encode_tlv(Tag::INSTANCE_COUNT, &[1]).unwrap(), empty_info].concat();
        let dg2 = encode_tlv(Tag::DG2, &encode_tlv(Tag::BIOMETRIC_GROUP, &group).unwrap()).unwrap();
        assert!(matches!(
            parse_dg2(&dg2),
            Err(LdsError::MissingElement {
                tag: Tag::BIOMETRIC_DATA,
                ..
            })
        ));
    }

    #[test]
    fn dg2_photo_is_the_first_image() {
        let images = vec![
            FaceImage {
                image_data_type: 0,
                width: 1,
                height: 1,
                photo: Photo::Jpeg(jpeg()),
            },
            FaceImage {
                image_data_type: 1,
                width: 1,
                height: 1,
                photo: classify_image(J2K_MAGIC.to_vec()),
            },
        ];
        let dg2 = encode_dg2(&images).unwrap();
        assert_eq!(parse_dg2(&dg2).unwrap(), images);
        assert_eq!(dg2_photo(&dg2).unwrap(), Photo::Jpeg(jpeg()));
        assert_eq!(
            format!("{:?}", Tlv::parse(&dg2).unwrap().0),
            format!("Tlv(75, <{} bytes>)", dg2.len() - 3)
        );
    }

    #[test]
    fn object_identifiers_round_trip() {
        for dotted in [
            OID_SIGNED_DATA,
            OID_LDS_SECURITY_OBJECT,
            "1.3.14.3.2.26",
            "2.16.840.1.101.3.4.2.1",
            "2.999.3",
        ] {
            assert_eq!(decode_oid(&encode_oid(dotted).unwrap()).unwrap(), dotted);
        }
        // 1.2.840.113549 from X.690 §8.19.5 example style: 2A 86 48 86 F7 0D.
        assert_eq!(encode_oid("1.2.840.113549").unwrap(), hex("2A864886F70D"));
        assert_eq!(decode_oid(&hex("2A8648")).unwrap(), "1.2.840");
        assert_eq!(decode_oid(&hex("2A86")), None);
        assert_eq!(decode_oid(&hex("2A8001")), None);
        assert_eq!(decode_oid(&[]), None);
        assert_eq!(encode_oid("3.1"), None);
    }

    fn sample_security_object() -> LdsSecurityObject {
        LdsSecurityObject {
            version: 0,
            hash_algorithm: HashAlgorithm::Sha256,
            data_group_hashes: vec![(1, vec![0x11; 32]), (2, vec![0x22; 32])],
        }
    }

    /// A structurally valid EF.SOD built in code: ContentInfo(SignedData) with the security
    /// object, one placeholder certificate and an empty signer-info set (not a real signature).
    fn sample_sod(content_type: &str) -> Vec<u8> {
        let econtent = sample_security_object().encode().unwrap();
        let encap = encode_tlv(
            SEQUENCE,
            &[
                encode_tlv(OBJECT_IDENTIFIER, &encode_oid(content_type).unwrap()).unwrap(),
                encode_tlv(CONTEXT_0, &encode_tlv(OCTET_STRING, &econtent).unwrap()).unwrap(),
            ]
            .concat(),
        )
        .unwrap();
        let certificate = encode_tlv(SEQUENCE, &encode_tlv(SEQUENCE, &[]).unwrap()).unwrap();
        let signed_data = encode_tlv(
            SEQUENCE,
            &[
                encode_tlv(INTEGER, &[3]).unwrap(),
                encode_tlv(
                    SET,
                    &encode_tlv(
                        SEQUENCE,
                        &encode_tlv(
                            OBJECT_IDENTIFIER,
                            &encode_oid("2.16.840.1.101.3.4.2.1").unwrap(),
                        )
                        .unwrap(),
                    )
                    .unwrap(),
                )
                .unwrap(),
                encap,
                encode_tlv(CONTEXT_0, &certificate).unwrap(),
                encode_tlv(SET, &[]).unwrap(),
            ]
            .concat(),
        )
        .unwrap();
        let content_info = encode_tlv(
            SEQUENCE,
            &[
                encode_tlv(OBJECT_IDENTIFIER, &encode_oid(OID_SIGNED_DATA).unwrap()).unwrap(),
                encode_tlv(CONTEXT_0, &signed_data).unwrap(),
            ]
            .concat(),
        )
        .unwrap();
        encode_tlv(Tag::EF_SOD, &content_info).unwrap()
    }

    #[test]
    fn sod_yields_the_data_group_hashes_and_the_signer_certificate() {
        let sod = parse_sod(&sample_sod(OID_LDS_SECURITY_OBJECT)).unwrap();
        assert_eq!(sod.security_object, sample_security_object());
        assert_eq!(sod.security_object.hash_of(2), Some(&[0x22; 32][..]));
        assert_eq!(sod.security_object.hash_of(3), None);
        assert_eq!(sod.econtent, sample_security_object().encode().unwrap());
        assert_eq!(sod.certificates, vec![hex("30023000")]);
        assert_eq!(sod.signer_infos, hex("3100"));
    }

    #[test]
    fn sod_with_another_content_type_is_refused() {
        assert!(matches!(
            parse_sod(&sample_sod("1.2.840.113549.1.7.1")),
            Err(LdsError::Sod { .. })
        ));
        assert!(matches!(
            parse_sod(&hex("77 02 3100")),
            Err(LdsError::UnexpectedTag { .. })
        ));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic_the_tlv_and_lds_parsers(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_all(&bytes);
            let _ = validate_tree(&bytes, DEFAULT_MAX_DEPTH);
            let _ = EfCom::parse(&bytes);
            let _ = parse_dg1(&bytes);
            let _ = parse_dg2(&bytes);
            let _ = parse_face_record(&bytes);
            let _ = parse_sod(&bytes);
            let _ = LdsSecurityObject::parse(&bytes);
            let _ = decode_oid(&bytes);
        }

        #[test]
        fn random_face_records_behind_a_valid_header_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..120)) {
            let record = [b"FAC\x00010\x00".to_vec(), tail].concat();
            let _ = parse_face_record(&record);
            let dg2 = encode_tlv(Tag::DG2, &encode_tlv(Tag::BIOMETRIC_GROUP, &encode_tlv(Tag::BIOMETRIC_INFO, &encode_tlv(Tag::BIOMETRIC_DATA, &record).unwrap()).unwrap()).unwrap()).unwrap();
            let _ = parse_dg2(&dg2);
        }

        #[test]
        fn any_value_round_trips_through_encode_and_parse(tag in prop::sample::select(vec![0x04u32, 0x5C, 0x5F1F, 0x7F61, 0x9F8101]), value in proptest::collection::vec(any::<u8>(), 0..400)) {
            let bytes = encode_tlv(Tag(tag), &value).unwrap();
            let (element, rest) = Tlv::parse(&bytes).unwrap();
            prop_assert_eq!(element.tag, Tag(tag));
            prop_assert_eq!(element.value, &value[..]);
            prop_assert!(rest.is_empty());
        }
    }
}
