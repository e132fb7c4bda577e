//! Officer badges on a contactless PC/SC reader: the badge card's UID (GET DATA, `FF CA 00 00 00`,
//! which the reader answers for the card) is the badge id an officer signs in with. It reads
//! nothing else from a badge and knows nothing of officers or PINs.

use pcsc::{Context, Disposition, Protocols, Scope, ShareMode};

use super::pcsc_icao::map_pcsc;
use super::{CardError, CardErrorKind};

/// PC/SC part 3 GET DATA: the UID of the contactless card in the field.
pub const GET_UID: [u8; 5] = [0xFF, 0xCA, 0x00, 0x00, 0x00];

/// The badge id for a GET DATA response: the UID in upper-case hex (`04A1B2C3`).
pub fn badge_id(response: &[u8]) -> Result<String, CardError> {
    match response {
        [uid @ .., 0x90, 0x00] if (4..=10).contains(&uid.len()) => {
            Ok(uid.iter().map(|b| format!("{b:02X}")).collect())
        }
        [.., sw1, sw2] => Err(CardError::new(
            CardErrorKind::Unsupported,
            format!(
                "the card on the badge reader gives no usable UID (status {sw1:02X}{sw2:02X}); \
                 use a badge card, or type the badge id"
            ),
        )),
        _ => Err(CardError::new(
            CardErrorKind::Protocol,
            "the badge reader's answer is too short; place the badge again",
        )),
    }
}

/// A contactless reader for badges (`None`: the first reader PC/SC lists).
pub struct BadgeReader {
    reader_name: Option<String>,
    context: Option<Context>,
}

impl BadgeReader {
    /// A reader that connects on first use.
    pub fn new(reader_name: Option<String>) -> BadgeReader {
        BadgeReader {
            reader_name,
            context: None,
        }
    }

    /// The badge id of the card on the reader now; `None` when there is none.
    pub fn read_badge(&mut self) -> Result<Option<String>, CardError> {
        if self.context.is_none() {
            self.context = Some(Context::establish(Scope::User).map_err(map_pcsc)?);
        }
        let Some(context) = &self.context else {
            return Ok(None);
        };
        let name = match &self.reader_name {
            Some(name) => std::ffi::CString::new(name.as_str()).map_err(|_| {
                CardError::new(
                    CardErrorKind::DeviceGone,
                    "terminal.badge_reader holds a NUL character; fix the reader name",
                )
            })?,
            None => {
                let mut buffer = [0u8; 2048];
                let first = context
                    .list_readers(&mut buffer)
                    .map_err(map_pcsc)?
                    .next()
                    .map(std::ffi::CStr::to_owned);
                match first {
                    Some(name) => name,
                    None => return Ok(None),
                }
            }
        };
        let card = match context.connect(&name, ShareMode::Shared, Protocols::ANY) {
            Ok(card) => card,
            Err(pcsc::Error::NoSmartcard | pcsc::Error::RemovedCard) => return Ok(None),
            Err(error) => {
                // A daemon restart invalidates the context: make a new one next time.
                self.context = None;
                return Err(map_pcsc(error));
            }
        };
        let mut buffer = [0u8; 64];
        let result = card
            .transmit(&GET_UID, &mut buffer)
            .map_err(map_pcsc)
            .and_then(badge_id);
        let _ = card.disconnect(Disposition::LeaveCard);
        result.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uid_becomes_an_upper_case_badge_id_and_other_answers_are_errors() {
        assert_eq!(
            badge_id(&[0x04, 0xa1, 0xb2, 0xc3, 0x90, 0x00]).map_err(|e| e.to_string()),
            Ok("04A1B2C3".to_owned())
        );
        let refused = badge_id(&[0x6a, 0x81]).map_err(|e| e.kind());
        assert_eq!(refused, Err(CardErrorKind::Unsupported));
        assert_eq!(
            badge_id(&[0x90]).map_err(|e| e.kind()),
            Err(CardErrorKind::Protocol)
        );
        assert_eq!(
            badge_id(&[0x01, 0x90, 0x00]).map_err(|e| e.kind()),
            Err(CardErrorKind::Unsupported),
            "a one-byte UID is no badge"
        );
    }
}
