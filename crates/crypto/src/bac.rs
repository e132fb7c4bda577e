//! ICAO 9303-11 Basic Access Control and 3DES secure messaging: key derivation from the MRZ,
//! DES parity, ISO 9797-1 retail MAC, mutual authentication for both the terminal and the chip
//! side, session keys, and wrapping/unwrapping of protected APDUs. Pure computations: randomness
//! is passed in, and nothing here talks to a card or stores keys.

use std::fmt;

use des::cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use des::{Des, TdesEde2};
use sha1::{Digest, Sha1};
use thiserror::Error;

use enroll_core::domain::mrz::MrzAccessKey;

/// A 2-key 3DES key (K1 ‖ K2).
pub type Key16 = [u8; 16];

/// DES block size.
pub const BLOCK: usize = 8;

/// Errors in BAC and secure messaging. Messages never contain key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BacError {
    /// Input of the wrong size.
    #[error(
        "{what} is {actual} bytes, expected {expected}; the exchange with the chip is out of step, read again"
    )]
    WrongLength {
        /// What was measured.
        what: &'static str,
        /// Bytes required.
        expected: usize,
        /// Bytes received.
        actual: usize,
    },
    /// Data for a block cipher that is not a whole number of blocks.
    #[error(
        "{what} is {len} bytes, not a multiple of 8; the exchange with the chip is out of step, read again"
    )]
    NotBlockAligned {
        /// What was measured.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// Mutual authentication failed: a MAC or a nonce did not match.
    #[error(
        "access control failed: the {side} did not prove it knows the access key; check the \
         document number, date of birth and date of expiry and try again"
    )]
    AuthenticationFailed {
        /// `chip` or `terminal`.
        side: &'static str,
    },
    /// A secure-messaging checksum did not match.
    #[error(
        "secure messaging checksum mismatch; the message was altered or the session is out of \
         step, remove the document and read it again"
    )]
    MacMismatch,
    /// A required data object is missing from a protected APDU.
    #[error(
        "protected message lacks data object {tag:#04x}; remove the document and read it again"
    )]
    MissingDataObject {
        /// The tag.
        tag: u8,
    },
    /// An APDU or data object is malformed.
    #[error("malformed {what}; remove the document and read it again")]
    Malformed {
        /// What is malformed.
        what: &'static str,
    },
    /// ISO 9797-1 method 2 padding is missing.
    #[error("decrypted data has no valid padding; the session keys are wrong, read again")]
    BadPadding,
    /// The chip answered without secure messaging (usually after an SM error such as `6988`).
    #[error(
        "the chip answered {sw:#06x} without secure messaging; remove the document and read it again"
    )]
    Unprotected {
        /// The status word.
        sw: u16,
    },
}

/// What a derived key is for, the KDF counter `c`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    /// Encryption, c = 1.
    Encryption,
    /// MAC, c = 2.
    Mac,
    /// PACE password key, c = 3.
    PacePassword,
}

impl KeyPurpose {
    /// The counter value.
    pub fn counter(self) -> u32 {
        match self {
            Self::Encryption => 1,
            Self::Mac => 2,
            Self::PacePassword => 3,
        }
    }
}

fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut hasher = Sha1::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

fn first_16(digest: [u8; 20]) -> Key16 {
    let [k @ .., _, _, _, _] = digest;
    k
}

/// `Kseed = SHA-1(MRZ_information)[0..16]`.
pub fn key_seed(mrz_information: &str) -> Key16 {
    first_16(sha1(&[mrz_information.as_bytes()]))
}

/// `KDF(K, c) = SHA-1(K ‖ c as u32 big-endian)[0..16]`, without parity adjustment.
pub fn kdf(seed: &[u8], purpose: KeyPurpose) -> Key16 {
    first_16(sha1(&[seed, &purpose.counter().to_be_bytes()]))
}

/// Sets the low bit of each byte so that every byte has odd parity, as DES keys conventionally do.
/// The cipher ignores these bits; this only makes keys comparable with published values.
pub fn adjust_parity<const N: usize>(mut key: [u8; N]) -> [u8; N] {
    for byte in &mut key {
        let high_bits_ones = (*byte & 0xFE).count_ones();
        *byte = (*byte & 0xFE) | u8::from(high_bits_ones % 2 == 0);
    }
    key
}

/// ISO/IEC 9797-1 padding method 2: `80` then zeros up to a multiple of 8 (always adds a byte).
pub fn pad(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + BLOCK);
    out.extend_from_slice(data);
    out.push(0x80);
    while !out.len().is_multiple_of(BLOCK) {
        out.push(0);
    }
    out
}

/// Removes ISO/IEC 9797-1 padding method 2.
pub fn unpad(data: &[u8]) -> Result<&[u8], BacError> {
    let end = data
        .iter()
        .rposition(|b| *b != 0)
        .ok_or(BacError::BadPadding)?;
    match data.split_at_checked(end) {
        Some((content, [0x80, ..])) if data.len() - end <= BLOCK => Ok(content),
        _ => Err(BacError::BadPadding),
    }
}

fn blocks<'a>(
    data: &'a [u8],
    what: &'static str,
) -> Result<std::slice::ChunksExact<'a, u8>, BacError> {
    if !data.len().is_multiple_of(BLOCK) {
        return Err(BacError::NotBlockAligned {
            what,
            len: data.len(),
        });
    }
    Ok(data.chunks_exact(BLOCK))
}

fn to_block(chunk: &[u8]) -> [u8; BLOCK] {
    let mut block = [0u8; BLOCK];
    block.copy_from_slice(chunk.get(..BLOCK).unwrap_or(&[0; BLOCK]));
    block
}

fn xor_block(a: [u8; BLOCK], b: [u8; BLOCK]) -> [u8; BLOCK] {
    let mut out = a;
    for (o, b) in out.iter_mut().zip(b) {
        *o ^= b;
    }
    out
}

fn tdes(key: &Key16) -> TdesEde2 {
    TdesEde2::new(&Array::from(*key))
}

fn encrypt_block<C: BlockCipherEncrypt<BlockSize = des::cipher::consts::U8>>(
    cipher: &C,
    block: [u8; BLOCK],
) -> [u8; BLOCK] {
    let mut block = Array::from(block);
    cipher.encrypt_block(&mut block);
    block.into()
}

fn decrypt_block<C: BlockCipherDecrypt<BlockSize = des::cipher::consts::U8>>(
    cipher: &C,
    block: [u8; BLOCK],
) -> [u8; BLOCK] {
    let mut block = Array::from(block);
    cipher.decrypt_block(&mut block);
    block.into()
}

/// 3DES-CBC encryption with IV 0; `data` must already be padded to whole blocks.
pub fn tdes_cbc_encrypt(key: &Key16, data: &[u8]) -> Result<Vec<u8>, BacError> {
    let cipher = tdes(key);
    let mut previous = [0u8; BLOCK];
    let mut out = Vec::with_capacity(data.len());
    for chunk in blocks(data, "data to encrypt")? {
        previous = encrypt_block(&cipher, xor_block(to_block(chunk), previous));
        out.extend_from_slice(&previous);
    }
    Ok(out)
}

/// 3DES-CBC decryption with IV 0; padding is left in place.
pub fn tdes_cbc_decrypt(key: &Key16, data: &[u8]) -> Result<Vec<u8>, BacError> {
    let cipher = tdes(key);
    let mut previous = [0u8; BLOCK];
    let mut out = Vec::with_capacity(data.len());
    for chunk in blocks(data, "data to decrypt")? {
        let block = to_block(chunk);
        out.extend_from_slice(&xor_block(decrypt_block(&cipher, block), previous));
        previous = block;
    }
    Ok(out)
}

/// ISO/IEC 9797-1 MAC algorithm 3 ("retail MAC") with DES: CBC with K1 over every block, then
/// decrypt with K2 and encrypt with K1. `data` must already be padded (method 2) to whole blocks.
pub fn retail_mac(key: &Key16, data: &[u8]) -> Result<[u8; BLOCK], BacError> {
    let [k1 @ .., _, _, _, _, _, _, _, _] = *key;
    let [_, _, _, _, _, _, _, _, k2 @ ..] = *key;
    let (des1, des2) = (Des::new(&Array::from(k1)), Des::new(&Array::from(k2)));
    let mut state = [0u8; BLOCK];
    for chunk in blocks(data, "data to authenticate")? {
        state = encrypt_block(&des1, xor_block(state, to_block(chunk)));
    }
    Ok(encrypt_block(&des1, decrypt_block(&des2, state)))
}

fn mac_matches(expected: &[u8; BLOCK], received: &[u8]) -> bool {
    // Constant-time comparison: accumulate differences instead of returning early.
    received.len() == BLOCK
        && expected
            .iter()
            .zip(received)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// The document basic access keys `Kenc` and `Kmac` (parity adjusted). `Debug` redacts them.
#[derive(Clone, PartialEq, Eq)]
pub struct BacKeys {
    /// Encryption key.
    pub k_enc: Key16,
    /// MAC key.
    pub k_mac: Key16,
}

impl fmt::Debug for BacKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BacKeys(<redacted>)")
    }
}

impl BacKeys {
    /// Derives the keys from an `MRZ_information` string.
    pub fn from_mrz_information(mrz_information: &str) -> Self {
        Self::from_seed(&key_seed(mrz_information))
    }

    /// Derives the keys from an access key (document number, birth, expiry).
    pub fn from_access_key(key: &MrzAccessKey) -> Self {
        Self::from_mrz_information(&key.mrz_information())
    }

    /// Derives the keys from a 16-byte seed.
    pub fn from_seed(seed: &Key16) -> Self {
        Self {
            k_enc: adjust_parity(kdf(seed, KeyPurpose::Encryption)),
            k_mac: adjust_parity(kdf(seed, KeyPurpose::Mac)),
        }
    }
}

/// Length of the EXTERNAL AUTHENTICATE command data and response: E (32) ‖ M (8).
pub const AUTH_DATA_LEN: usize = 40;

fn seal(keys: &BacKeys, plain: &[u8; 32]) -> Result<[u8; AUTH_DATA_LEN], BacError> {
    let encrypted = tdes_cbc_encrypt(&keys.k_enc, plain)?;
    let mac = retail_mac(&keys.k_mac, &pad(&encrypted))?;
    let mut out = [0u8; AUTH_DATA_LEN];
    for (slot, byte) in out.iter_mut().zip(encrypted.iter().chain(&mac)) {
        *slot = *byte;
    }
    Ok(out)
}

fn open(keys: &BacKeys, sealed: &[u8], side: &'static str) -> Result<[u8; 32], BacError> {
    let (encrypted, mac) = match sealed.split_at_checked(32) {
        Some(parts) if sealed.len() == AUTH_DATA_LEN => parts,
        _ => {
            return Err(BacError::WrongLength {
                what: "authentication data",
                expected: AUTH_DATA_LEN,
                actual: sealed.len(),
            });
        }
    };
    if !mac_matches(&retail_mac(&keys.k_mac, &pad(encrypted))?, mac) {
        return Err(BacError::AuthenticationFailed { side });
    }
    let plain = tdes_cbc_decrypt(&keys.k_enc, encrypted)?;
    <[u8; 32]>::try_from(plain.as_slice()).map_err(|_| BacError::AuthenticationFailed { side })
}

fn split_auth(plain: &[u8; 32]) -> ([u8; 8], [u8; 8], Key16) {
    let [
        a0,
        a1,
        a2,
        a3,
        a4,
        a5,
        a6,
        a7,
        b0,
        b1,
        b2,
        b3,
        b4,
        b5,
        b6,
        b7,
        key @ ..,
    ] = *plain;
    (
        [a0, a1, a2, a3, a4, a5, a6, a7],
        [b0, b1, b2, b3, b4, b5, b6, b7],
        key,
    )
}

fn join_auth(first: &[u8; 8], second: &[u8; 8], key: &Key16) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (slot, byte) in out.iter_mut().zip(first.iter().chain(second).chain(key)) {
        *slot = *byte;
    }
    out
}

fn session(k_ifd: &Key16, k_ic: &Key16, rnd_ic: &[u8; 8], rnd_ifd: &[u8; 8]) -> SecureMessaging {
    let mut seed = [0u8; 16];
    for ((slot, a), b) in seed.iter_mut().zip(k_ifd).zip(k_ic) {
        *slot = a ^ b;
    }
    let [_, _, _, _, ic @ ..] = *rnd_ic;
    let [_, _, _, _, ifd @ ..] = *rnd_ifd;
    let ssc = (u64::from(u32::from_be_bytes(ic)) << 32) | u64::from(u32::from_be_bytes(ifd));
    SecureMessaging {
        ks_enc: adjust_parity(kdf(&seed, KeyPurpose::Encryption)),
        ks_mac: adjust_parity(kdf(&seed, KeyPurpose::Mac)),
        ssc,
    }
}

/// The terminal's half of mutual authentication, between sending EXTERNAL AUTHENTICATE and
/// checking the chip's answer. `Debug` redacts its secrets.
#[derive(Clone)]
pub struct TerminalAuthentication {
    keys: BacKeys,
    rnd_ifd: [u8; 8],
    rnd_ic: [u8; 8],
    k_ifd: Key16,
}

impl fmt::Debug for TerminalAuthentication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TerminalAuthentication(<redacted>)")
    }
}

impl TerminalAuthentication {
    /// Starts authentication after GET CHALLENGE returned `rnd_ic`. `rnd_ifd` and `k_ifd` must be
    /// fresh random values. Returns this state and the 40-byte EXTERNAL AUTHENTICATE data
    /// `E.IFD ‖ M.IFD`.
    pub fn start(
        keys: &BacKeys,
        rnd_ic: [u8; 8],
        rnd_ifd: [u8; 8],
        k_ifd: Key16,
    ) -> Result<(Self, [u8; AUTH_DATA_LEN]), BacError> {
        let command = seal(keys, &join_auth(&rnd_ifd, &rnd_ic, &k_ifd))?;
        let state = Self {
            keys: keys.clone(),
            rnd_ifd,
            rnd_ic,
            k_ifd,
        };
        Ok((state, command))
    }

    /// Checks the chip's `E.IC ‖ M.IC` and derives the session.
    pub fn finish(self, response: &[u8]) -> Result<SecureMessaging, BacError> {
        let plain = open(&self.keys, response, "chip")?;
        let (rnd_ic, rnd_ifd, k_ic) = split_auth(&plain);
        if rnd_ic != self.rnd_ic || rnd_ifd != self.rnd_ifd {
            return Err(BacError::AuthenticationFailed { side: "chip" });
        }
        Ok(session(&self.k_ifd, &k_ic, &self.rnd_ic, &self.rnd_ifd))
    }
}

/// The chip's half of mutual authentication (for the virtual passport): checks the terminal's
/// `E.IFD ‖ M.IFD` against the `rnd_ic` it issued, and returns its answer `E.IC ‖ M.IC` and the
/// session. `k_ic` must be a fresh random value.
pub fn chip_authenticate(
    keys: &BacKeys,
    rnd_ic: [u8; 8],
    k_ic: Key16,
    command: &[u8],
) -> Result<([u8; AUTH_DATA_LEN], SecureMessaging), BacError> {
    let plain = open(keys, command, "terminal")?;
    let (rnd_ifd, echoed_rnd_ic, k_ifd) = split_auth(&plain);
    if echoed_rnd_ic != rnd_ic {
        return Err(BacError::AuthenticationFailed { side: "terminal" });
    }
    let response = seal(keys, &join_auth(&rnd_ic, &rnd_ifd, &k_ic))?;
    Ok((response, session(&k_ifd, &k_ic, &rnd_ic, &rnd_ifd)))
}

/// A short command APDU (Lc ≤ 255, Le ≤ 256).
#[derive(Clone, PartialEq, Eq)]
pub struct CommandApdu {
    /// Class byte.
    pub cla: u8,
    /// Instruction.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data.
    pub data: Vec<u8>,
    /// Expected response length (1–256), if a response body is expected.
    pub le: Option<u16>,
}

impl fmt::Debug for CommandApdu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CommandApdu({:02X} {:02X} {:02X} {:02X}, <{} bytes>, le {:?})",
            self.cla,
            self.ins,
            self.p1,
            self.p2,
            self.data.len(),
            self.le
        )
    }
}

fn le_byte(le: u16) -> Result<u8, BacError> {
    match le {
        256 => Ok(0),
        1..=255 => Ok(le as u8),
        _ => Err(BacError::Malformed {
            what: "expected length (le must be 1 to 256)",
        }),
    }
}

fn le_from_byte(byte: u8) -> u16 {
    if byte == 0 { 256 } else { u16::from(byte) }
}

impl CommandApdu {
    /// Encodes the APDU (cases 1–4, short form).
    pub fn encode(&self) -> Result<Vec<u8>, BacError> {
        let mut out = vec![self.cla, self.ins, self.p1, self.p2];
        if !self.data.is_empty() {
            let lc = u8::try_from(self.data.len()).map_err(|_| BacError::Malformed {
                what: "command (data longer than 255 bytes)",
            })?;
            out.push(lc);
            out.extend_from_slice(&self.data);
        }
        if let Some(le) = self.le {
            out.push(le_byte(le)?);
        }
        Ok(out)
    }

    /// Parses a short APDU.
    pub fn parse(bytes: &[u8]) -> Result<Self, BacError> {
        let malformed = BacError::Malformed {
            what: "command apdu",
        };
        let (&[cla, ins, p1, p2], body) = bytes.split_at_checked(4).ok_or(malformed.clone())?
        else {
            return Err(malformed);
        };
        let (data, le) = match body {
            [] => (Vec::new(), None),
            [le] => (Vec::new(), Some(le_from_byte(*le))),
            [lc, rest @ ..] => {
                let lc = usize::from(*lc);
                match rest.len().checked_sub(lc) {
                    Some(0) if lc > 0 => (rest.to_vec(), None),
                    Some(1) if lc > 0 => {
                        let (data, le) = rest.split_at_checked(lc).ok_or(malformed.clone())?;
                        (data.to_vec(), le.first().map(|b| le_from_byte(*b)))
                    }
                    _ => return Err(malformed),
                }
            }
        };
        Ok(Self {
            cla,
            ins,
            p1,
            p2,
            data,
            le,
        })
    }
}

/// A response APDU: data and status word.
#[derive(Clone, PartialEq, Eq)]
pub struct ResponseApdu {
    /// Response data.
    pub data: Vec<u8>,
    /// Status word (`0x9000` for success).
    pub sw: u16,
}

impl fmt::Debug for ResponseApdu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ResponseApdu(<{} bytes>, {:04X})",
            self.data.len(),
            self.sw
        )
    }
}

impl ResponseApdu {
    /// Encodes data ‖ SW1 SW2.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.data.clone();
        out.extend_from_slice(&self.sw.to_be_bytes());
        out
    }

    /// Splits data and status word.
    pub fn parse(bytes: &[u8]) -> Result<Self, BacError> {
        match bytes
            .len()
            .checked_sub(2)
            .and_then(|at| bytes.split_at_checked(at))
        {
            Some((data, &[sw1, sw2])) => Ok(Self {
                data: data.to_vec(),
                sw: u16::from_be_bytes([sw1, sw2]),
            }),
            _ => Err(BacError::Malformed {
                what: "response apdu (shorter than a status word)",
            }),
        }
    }
}

/// Appends a simple TLV data object (one-byte tag, BER length up to 0xFFFF).
fn push_do(out: &mut Vec<u8>, tag: u8, value: &[u8]) -> Result<(), BacError> {
    out.push(tag);
    match value.len() {
        len @ 0..=0x7F => out.push(len as u8),
        len @ 0x80..=0xFF => out.extend_from_slice(&[0x81, len as u8]),
        len => {
            let len = u16::try_from(len).map_err(|_| BacError::Malformed {
                what: "data object (too long)",
            })?;
            out.push(0x82);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    out.extend_from_slice(value);
    Ok(())
}

/// A data object in a protected APDU: tag, its complete encoding, and its value.
struct DataObject<'a> {
    tag: u8,
    encoded: &'a [u8],
    value: &'a [u8],
}

/// Splits the data field of a protected APDU into its data objects.
fn data_objects(mut input: &[u8]) -> Result<Vec<DataObject<'_>>, BacError> {
    let malformed = BacError::Malformed {
        what: "secure messaging data object",
    };
    let mut objects = Vec::new();
    while !input.is_empty() {
        let start = input;
        let (&tag, rest) = input.split_first().ok_or(malformed.clone())?;
        let (&first, rest) = rest.split_first().ok_or(malformed.clone())?;
        let (len, rest) = match first {
            0x00..=0x7F => (usize::from(first), rest),
            0x81 => match rest.split_first() {
                Some((&len, rest)) => (usize::from(len), rest),
                None => return Err(malformed),
            },
            0x82 => match rest.split_at_checked(2) {
                Some((&[hi, lo], rest)) => (usize::from(u16::from_be_bytes([hi, lo])), rest),
                _ => return Err(malformed),
            },
            _ => return Err(malformed),
        };
        let (value, rest) = rest.split_at_checked(len).ok_or(malformed.clone())?;
        let encoded = start
            .get(..start.len() - rest.len())
            .ok_or(malformed.clone())?;
        objects.push(DataObject {
            tag,
            encoded,
            value,
        });
        input = rest;
    }
    Ok(objects)
}

fn find<'a>(objects: &'a [DataObject<'a>], tag: u8) -> Option<&'a DataObject<'a>> {
    objects.iter().find(|object| object.tag == tag)
}

/// An established 3DES secure-messaging session: session keys and send sequence counter. The same
/// type serves the terminal (wrap commands, unwrap responses) and the chip (unwrap commands, wrap
/// responses); each side keeps its own counter. `Debug` redacts the keys.
#[derive(Clone, PartialEq, Eq)]
pub struct SecureMessaging {
    ks_enc: Key16,
    ks_mac: Key16,
    ssc: u64,
}

impl fmt::Debug for SecureMessaging {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecureMessaging(<redacted>)")
    }
}

impl SecureMessaging {
    /// A session from known keys and counter (tests, or keys agreed by other means).
    pub fn new(ks_enc: Key16, ks_mac: Key16, ssc: u64) -> Self {
        Self {
            ks_enc,
            ks_mac,
            ssc,
        }
    }

    /// Session encryption key.
    pub fn ks_enc(&self) -> &Key16 {
        &self.ks_enc
    }

    /// Session MAC key.
    pub fn ks_mac(&self) -> &Key16 {
        &self.ks_mac
    }

    /// Current send sequence counter.
    pub fn ssc(&self) -> u64 {
        self.ssc
    }

    fn mac(&mut self, message: &[u8]) -> Result<[u8; BLOCK], BacError> {
        self.ssc = self.ssc.wrapping_add(1);
        let mut input = self.ssc.to_be_bytes().to_vec();
        input.extend_from_slice(message);
        retail_mac(&self.ks_mac, &pad(&input))
    }

    fn encrypted_do(&self, ins: u8, data: &[u8], out: &mut Vec<u8>) -> Result<(), BacError> {
        if data.is_empty() {
            return Ok(());
        }
        let encrypted = tdes_cbc_encrypt(&self.ks_enc, &pad(data))?;
        if ins.is_multiple_of(2) {
            let mut value = vec![0x01];
            value.extend_from_slice(&encrypted);
            push_do(out, 0x87, &value)
        } else {
            push_do(out, 0x85, &encrypted)
        }
    }

    fn decrypted_do(&self, objects: &[DataObject<'_>]) -> Result<Vec<u8>, BacError> {
        let encrypted = match (find(objects, 0x87), find(objects, 0x85)) {
            (Some(object), _) => match object.value.split_first() {
                Some((0x01, encrypted)) => encrypted,
                _ => {
                    return Err(BacError::Malformed {
                        what: "data object 87 (padding indicator must be 01)",
                    });
                }
            },
            (None, Some(object)) => object.value,
            (None, None) => return Ok(Vec::new()),
        };
        let plain = tdes_cbc_decrypt(&self.ks_enc, encrypted)?;
        Ok(unpad(&plain)?.to_vec())
    }

    /// Terminal side: protects a plain command (ICAO 9303-11 §9.8.6). Increments the counter.
    pub fn wrap_command(&mut self, command: &CommandApdu) -> Result<Vec<u8>, BacError> {
        let header = [command.cla | 0x0C, command.ins, command.p1, command.p2];
        let mut body = Vec::new();
        self.encrypted_do(command.ins, &command.data, &mut body)?;
        if let Some(le) = command.le {
            push_do(&mut body, 0x97, &[le_byte(le)?])?;
        }
        let mut message = pad(&header);
        message.extend_from_slice(&body);
        let mac = self.mac(&message)?;
        push_do(&mut body, 0x8E, &mac)?;
        CommandApdu {
            cla: header[0],
            ins: command.ins,
            p1: command.p1,
            p2: command.p2,
            data: body,
            le: Some(256),
        }
        .encode()
    }

    /// Chip side: checks and decrypts a protected command. Increments the counter.
    pub fn unwrap_command(&mut self, protected: &[u8]) -> Result<CommandApdu, BacError> {
        let apdu = CommandApdu::parse(protected)?;
        if apdu.cla & 0x0C != 0x0C {
            return Err(BacError::Malformed {
                what: "command (class byte does not announce secure messaging)",
            });
        }
        let objects = data_objects(&apdu.data)?;
        let received_mac = find(&objects, 0x8E)
            .ok_or(BacError::MissingDataObject { tag: 0x8E })?
            .value;
        let mut message = pad(&[apdu.cla, apdu.ins, apdu.p1, apdu.p2]);
        for object in objects.iter().filter(|o| o.tag != 0x8E) {
            message.extend_from_slice(object.encoded);
        }
        let expected = self.mac(&message)?;
        if !mac_matches(&expected, received_mac) {
            return Err(BacError::MacMismatch);
        }
        let le = match find(&objects, 0x97).map(|o| o.value) {
            None => None,
            Some([le]) => Some(le_from_byte(*le)),
            Some(_) => {
                return Err(BacError::Malformed {
                    what: "data object 97",
                });
            }
        };
        Ok(CommandApdu {
            cla: apdu.cla & !0x0C,
            ins: apdu.ins,
            p1: apdu.p1,
            p2: apdu.p2,
            data: self.decrypted_do(&objects)?,
            le,
        })
    }

    /// Chip side: protects a response (DO'87' if there is data, DO'99' status, DO'8E' MAC).
    /// Increments the counter.
    pub fn wrap_response(&mut self, response: &ResponseApdu) -> Result<Vec<u8>, BacError> {
        let mut body = Vec::new();
        self.encrypted_do(0, &response.data, &mut body)?;
        push_do(&mut body, 0x99, &response.sw.to_be_bytes())?;
        let mac = self.mac(&body)?;
        push_do(&mut body, 0x8E, &mac)?;
        Ok(ResponseApdu {
            data: body,
            sw: 0x9000,
        }
        .encode())
    }

    /// Terminal side: checks and decrypts a protected response. Increments the counter. A bare
    /// status word without data objects is reported as [`BacError::Unprotected`].
    pub fn unwrap_response(&mut self, protected: &[u8]) -> Result<ResponseApdu, BacError> {
        let outer = ResponseApdu::parse(protected)?;
        if outer.data.is_empty() {
            return Err(BacError::Unprotected { sw: outer.sw });
        }
        let objects = data_objects(&outer.data)?;
        let received_mac = find(&objects, 0x8E)
            .ok_or(BacError::MissingDataObject { tag: 0x8E })?
            .value;
        let status = find(&objects, 0x99).ok_or(BacError::MissingDataObject { tag: 0x99 })?;
        let mut message = Vec::new();
        for object in objects.iter().filter(|o| o.tag != 0x8E) {
            message.extend_from_slice(object.encoded);
        }
        let expected = self.mac(&message)?;
        if !mac_matches(&expected, received_mac) {
            return Err(BacError::MacMismatch);
        }
        let sw = match status.value {
            &[sw1, sw2] => u16::from_be_bytes([sw1, sw2]),
            _ => {
                return Err(BacError::Malformed {
                    what: "data object 99",
                });
            }
        };
        Ok(ResponseApdu {
            data: self.decrypted_do(&objects)?,
            sw,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use enroll_core::domain::mrz::MrzAccessKey;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn arr<const N: usize>(s: &str) -> [u8; N] {
        hex(s).try_into().unwrap()
    }

    // ICAO Doc 9303-11, Appendix D (worked example of BAC and secure messaging). D.2 key
    // derivation values are also quoted in the protocol doc §2.3; the D.3 and D.4 values were
    // cross-checked against independent public implementations' test suites.
    const MRZ_INFORMATION: &str = "L898902C<369080619406236";
    const RND_IC: &str = "4608F91988702212";
    const RND_IFD: &str = "781723860C06C226";
    const K_IFD: &str = "0B795240CB7049B01C19B33E32804F0B";
    const K_IC: &str = "0B4F80323EB3191CB04970CB4052790B";
    const E_IFD_M_IFD: &str =
        "72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F2 5F1448EEA8AD90A7";
    const E_IC_M_IC: &str =
        "46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F 2F2D235D074D7449";

    fn keys() -> BacKeys {
        BacKeys::from_mrz_information(MRZ_INFORMATION)
    }

    fn appendix_d_session() -> SecureMessaging {
        SecureMessaging::new(
            arr("979EC13B1CBFE9DCD01AB0FED307EAE5"),
            arr("F1CB1F1FB5ADF208806B89DC579DC1F8"),
            0x887022120C06C226,
        )
    }

    #[test]
    fn key_seed_and_keys_match_appendix_d() {
        assert_eq!(
            key_seed(MRZ_INFORMATION),
            arr("239AB9CB282DAF66231DC5A4DF6BFBAE")
        );
        let seed = key_seed(MRZ_INFORMATION);
        assert_eq!(
            kdf(&seed, KeyPurpose::Encryption),
            arr("AB94FCEDF2664EDFB9B291F85D7F77F2")
        );
        assert_eq!(
            kdf(&seed, KeyPurpose::Mac),
            arr("7862D9ECE03C1BCD4D77089DCF131442")
        );
        assert_eq!(keys().k_enc, arr("AB94FDECF2674FDFB9B391F85D7F76F2"));
        assert_eq!(keys().k_mac, arr("7962D9ECE03D1ACD4C76089DCE131543"));
    }

    #[test]
    fn keys_from_a_typed_access_key_match_appendix_d() {
        let key = MrzAccessKey::parse_typed("L898902C,690806,940623").unwrap();
        assert_eq!(BacKeys::from_access_key(&key), keys());
        assert_eq!(format!("{:?}", keys()), "BacKeys(<redacted>)");
    }

    #[test]
    fn parity_adjustment_gives_every_byte_odd_parity() {
        let adjusted = adjust_parity([0x00, 0x01, 0xFE, 0xFF, 0x7C, 0x80]);
        assert_eq!(adjusted, [0x01, 0x01, 0xFE, 0xFE, 0x7C, 0x80]);
        assert!(adjusted.iter().all(|b| b.count_ones() % 2 == 1));
    }

    #[test]
    fn padding_method_2_always_adds_and_is_removed() {
        assert_eq!(pad(&[]), hex("8000000000000000"));
        assert_eq!(pad(&[1; 8]).len(), 16);
        assert_eq!(pad(&[1, 2, 3]), hex("0102038000000000"));
        assert_eq!(unpad(&hex("0102038000000000")).unwrap(), &[1, 2, 3]);
        assert_eq!(unpad(&hex("0102030000000000")), Err(BacError::BadPadding));
        assert_eq!(unpad(&hex("0000000000000000")), Err(BacError::BadPadding));
        assert_eq!(unpad(&[]), Err(BacError::BadPadding));
        assert_eq!(
            unpad(&hex("80 0000000000000000")),
            Err(BacError::BadPadding)
        );
    }

    #[test]
    fn encryption_and_mac_of_the_terminal_match_appendix_d() {
        let s = hex("781723860C06C2264608F919887022120B795240CB7049B01C19B33E32804F0B");
        let e_ifd = tdes_cbc_encrypt(&keys().k_enc, &s).unwrap();
        assert_eq!(e_ifd, hex(&E_IFD_M_IFD[..64]));
        assert_eq!(tdes_cbc_decrypt(&keys().k_enc, &e_ifd).unwrap(), s);
        assert_eq!(
            retail_mac(&keys().k_mac, &pad(&e_ifd)).unwrap(),
            arr::<8>("5F1448EEA8AD90A7")
        );
        assert!(matches!(
            tdes_cbc_encrypt(&keys().k_enc, &[0; 7]),
            Err(BacError::NotBlockAligned { .. })
        ));
        assert!(matches!(
            retail_mac(&keys().k_mac, &[0; 9]),
            Err(BacError::NotBlockAligned { .. })
        ));
    }

    #[test]
    fn terminal_side_of_mutual_authentication_matches_appendix_d() {
        let (state, command) =
            TerminalAuthentication::start(&keys(), arr(RND_IC), arr(RND_IFD), arr(K_IFD)).unwrap();
        assert_eq!(command.to_vec(), hex(E_IFD_M_IFD));
        let session = state.finish(&hex(E_IC_M_IC)).unwrap();
        assert_eq!(session, appendix_d_session());
    }

    #[test]
    fn chip_side_of_mutual_authentication_matches_appendix_d() {
        let (response, session) =
            chip_authenticate(&keys(), arr(RND_IC), arr(K_IC), &hex(E_IFD_M_IFD)).unwrap();
        assert_eq!(response.to_vec(), hex(E_IC_M_IC));
        assert_eq!(session, appendix_d_session());
        assert_eq!(session.ssc(), 0x887022120C06C226);
    }

    #[test]
    fn wrong_access_key_is_refused_by_the_chip() {
        let wrong = BacKeys::from_mrz_information("L898902C<369080619406235");
        let (_, command) =
            TerminalAuthentication::start(&wrong, arr(RND_IC), arr(RND_IFD), arr(K_IFD)).unwrap();
        assert_eq!(
            chip_authenticate(&keys(), arr(RND_IC), arr(K_IC), &command),
            Err(BacError::AuthenticationFailed { side: "terminal" })
        );
    }

    #[test]
    fn stale_challenge_is_refused_by_the_chip() {
        let (_, command) =
            TerminalAuthentication::start(&keys(), arr(RND_IC), arr(RND_IFD), arr(K_IFD)).unwrap();
        assert_eq!(
            chip_authenticate(&keys(), arr("0000000000000000"), arr(K_IC), &command),
            Err(BacError::AuthenticationFailed { side: "terminal" })
        );
    }

    #[test]
    fn forged_or_replayed_chip_answer_is_refused_by_the_terminal() {
        let start = || {
            TerminalAuthentication::start(&keys(), arr(RND_IC), arr(RND_IFD), arr(K_IFD))
                .unwrap()
                .0
        };
        let mut tampered = hex(E_IC_M_IC);
        tampered[0] ^= 1;
        assert_eq!(
            start().finish(&tampered),
            Err(BacError::AuthenticationFailed { side: "chip" })
        );
        // A correctly MACed answer that echoes another terminal nonce (a replay).
        let (replay, _) = chip_authenticate(&keys(), arr(RND_IC), arr(K_IC), &{
            let (_, other) = TerminalAuthentication::start(
                &keys(),
                arr(RND_IC),
                arr("1111111111111111"),
                arr(K_IFD),
            )
            .unwrap();
            other
        })
        .unwrap();
        assert_eq!(
            start().finish(&replay),
            Err(BacError::AuthenticationFailed { side: "chip" })
        );
        assert!(matches!(
            start().finish(&[0; 39]),
            Err(BacError::WrongLength { .. })
        ));
    }

    #[test]
    fn select_ef_com_is_protected_as_in_appendix_d() {
        let mut sm = appendix_d_session();
        let select = CommandApdu::parse(&hex("00A4020C02011E")).unwrap();
        let protected = sm.wrap_command(&select).unwrap();
        assert_eq!(
            protected,
            hex("0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800")
        );
        assert_eq!(sm.ssc(), 0x887022120C06C227);
        let response = sm
            .unwrap_response(&hex("990290008E08FA855A5D4C50A8ED9000"))
            .unwrap();
        assert_eq!(
            response,
            ResponseApdu {
                data: vec![],
                sw: 0x9000
            }
        );
        assert_eq!(sm.ssc(), 0x887022120C06C228);
    }

    #[test]
    fn read_binary_of_ef_com_is_protected_and_decrypted_as_in_appendix_d() {
        let mut sm = appendix_d_session();
        sm.ssc = 0x887022120C06C228;
        let protected = sm
            .wrap_command(&CommandApdu::parse(&hex("00B0000004")).unwrap())
            .unwrap();
        assert_eq!(protected, hex("0CB000000D9701048E08ED6705417E96BA5500"));
        let response = sm
            .unwrap_response(&hex(
                "8709019FF0EC34F9922651990290008E08AD55CC17140B2DED9000",
            ))
            .unwrap();
        assert_eq!(response.data, hex("60145F01"));
        let protected = sm
            .wrap_command(&CommandApdu::parse(&hex("00B0000412")).unwrap())
            .unwrap();
        assert_eq!(protected, hex("0CB000040D9701128E082EA28A70F3C7B53500"));
        let response = sm
            .unwrap_response(&hex(
                "871901FB9235F4E4037F2327DCC8964F1F9B8C30F42C8E2FFF224A990290008E08C8B2787EAEA07D749000",
            ))
            .unwrap();
        assert_eq!(response.data, hex("04303130365F36063034303030305C026175"));
        assert_eq!(response.sw, 0x9000);
        assert_eq!(sm.ssc(), 0x887022120C06C22C);
    }

    #[test]
    fn chip_side_unwraps_the_appendix_d_commands_and_produces_its_responses() {
        let mut chip = appendix_d_session();
        let select = chip
            .unwrap_command(&hex(
                "0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800",
            ))
            .unwrap();
        assert_eq!(select.encode().unwrap(), hex("00A4020C02011E"));
        let answer = chip
            .wrap_response(&ResponseApdu {
                data: vec![],
                sw: 0x9000,
            })
            .unwrap();
        assert_eq!(answer, hex("990290008E08FA855A5D4C50A8ED9000"));
        let read = chip
            .unwrap_command(&hex("0CB000000D9701048E08ED6705417E96BA5500"))
            .unwrap();
        assert_eq!(read.encode().unwrap(), hex("00B0000004"));
        let answer = chip
            .wrap_response(&ResponseApdu {
                data: hex("60145F01"),
                sw: 0x9000,
            })
            .unwrap();
        assert_eq!(
            answer,
            hex("8709019FF0EC34F9922651990290008E08AD55CC17140B2DED9000")
        );
    }

    #[test]
    fn tampered_or_replayed_messages_fail_the_mac_check() {
        let mut chip = appendix_d_session();
        let mut protected = hex("0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800");
        protected[8] ^= 0x01;
        assert_eq!(chip.unwrap_command(&protected), Err(BacError::MacMismatch));
        // Replaying the first response after the counter moved on is detected.
        let mut terminal = appendix_d_session();
        terminal.ssc = 0x887022120C06C229;
        assert_eq!(
            terminal.unwrap_response(&hex("990290008E08FA855A5D4C50A8ED9000")),
            Err(BacError::MacMismatch)
        );
    }

    #[test]
    fn plain_status_word_after_an_sm_error_is_reported_as_unprotected() {
        let mut terminal = appendix_d_session();
        assert_eq!(
            terminal.unwrap_response(&hex("6988")),
            Err(BacError::Unprotected { sw: 0x6988 })
        );
        assert_eq!(
            terminal.unwrap_response(&hex("99029000 9000")),
            Err(BacError::MissingDataObject { tag: 0x8E })
        );
    }

    #[test]
    fn odd_instructions_carry_data_in_do_85() {
        let mut terminal = appendix_d_session();
        let mut chip = appendix_d_session();
        let command = CommandApdu {
            cla: 0x00,
            ins: 0xB1,
            p1: 0x01,
            p2: 0x1E,
            data: hex("5402 0000"),
            le: Some(256),
        };
        let protected = terminal.wrap_command(&command).unwrap();
        assert_eq!(protected[5], 0x85);
        assert_eq!(chip.unwrap_command(&protected).unwrap(), command);
    }

    #[test]
    fn full_terminal_and_chip_round_trip_with_fresh_randomness() {
        let keys = BacKeys::from_access_key(
            &MrzAccessKey::parse_typed("D23145890734,740812,120415").unwrap(),
        );
        let (state, command) =
            TerminalAuthentication::start(&keys, [7; 8], [9; 8], [3; 16]).unwrap();
        let (response, mut chip) = chip_authenticate(&keys, [7; 8], [5; 16], &command).unwrap();
        let mut terminal = state.finish(&response).unwrap();
        assert_eq!(terminal, chip);
        for (len, le) in [
            (0usize, Some(0xDF)),
            (1, None),
            (8, Some(256)),
            (200, Some(1)),
        ] {
            let command = CommandApdu {
                cla: 0x00,
                ins: 0xB0,
                p1: 0,
                p2: 0,
                data: vec![0x42; len],
                le,
            };
            let received = chip
                .unwrap_command(&terminal.wrap_command(&command).unwrap())
                .unwrap();
            assert_eq!(received, command);
            let answer = ResponseApdu {
                data: vec![0x17; len],
                sw: 0x6282,
            };
            assert_eq!(
                terminal
                    .unwrap_response(&chip.wrap_response(&answer).unwrap())
                    .unwrap(),
                answer
            );
        }
    }

    #[test]
    fn apdus_parse_and_encode_in_every_short_case() {
        for bytes in [
            "00A40000",
            "00B0000000",
            "00A4040C07A0000002471001",
            "00A4040007A000000247100100",
        ] {
            assert_eq!(
                CommandApdu::parse(&hex(bytes)).unwrap().encode().unwrap(),
                hex(bytes)
            );
        }
        assert_eq!(
            CommandApdu::parse(&hex("00B0000000")).unwrap().le,
            Some(256)
        );
        for bad in ["00A400", "00A4040C07A00000", "00A4040C0000"] {
            assert!(CommandApdu::parse(&hex(bad)).is_err(), "{bad}");
        }
        assert!(ResponseApdu::parse(&[0x90]).is_err());
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic_the_unwrappers(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            let mut sm = appendix_d_session();
            let _ = sm.unwrap_command(&bytes);
            let _ = sm.unwrap_response(&bytes);
            let _ = chip_authenticate(&keys(), arr(RND_IC), arr(K_IC), &bytes);
            let _ = unpad(&bytes);
        }

        #[test]
        fn any_command_and_response_round_trip_between_terminal_and_chip(
            ins in any::<u8>(),
            data in proptest::collection::vec(any::<u8>(), 0..200),
            le in proptest::option::of(1u16..=256),
            sw in any::<u16>(),
        ) {
            let mut terminal = appendix_d_session();
            let mut chip = appendix_d_session();
            let command = CommandApdu { cla: 0, ins, p1: 1, p2: 2, data: data.clone(), le };
            prop_assert_eq!(chip.unwrap_command(&terminal.wrap_command(&command).unwrap()).unwrap(), command);
            let answer = ResponseApdu { data, sw };
            prop_assert_eq!(terminal.unwrap_response(&chip.wrap_response(&answer).unwrap()).unwrap(), answer);
        }
    }
}
