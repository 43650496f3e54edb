//! The offline check of a token's shape, before anything is sent.
//!
//! Hugging Face documents no token format, so an unusual shape only *warns* (the Hub decides).
//! A token that can never be sent in an `Authorization: Bearer` header, because it holds a
//! space, another whitespace or control character, or a non-ASCII character after cleaning,
//! is rejected here with PF002 and is never put in a header. Messages name the position and
//! the class of the offending character, never the token or the character itself.

use preflight_errors::Code;

/// What kind of token the shape suggests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// `hf_` followed by 34 ASCII letters or digits: a user access token.
    UserAccess,
    /// `hf_oauth_…`: an OAuth access token (reported by third parties; never checked by the client).
    OAuth,
    /// `api_org_…`: a legacy organisation API token.
    OrgApi,
    /// Anything else that can still be sent.
    Unusual,
}

/// The outcome of a successful shape check: the token can be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeCheck {
    /// The kind the shape suggests.
    pub kind: TokenKind,
    /// Warnings about an unusual shape; empty for a regular `hf_` token.
    pub warnings: Vec<String>,
}

/// A token that can never be sent in an HTTP header. Always PF002.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the token ({length} characters) can never be sent in an HTTP header: it contains {reason}"
)]
pub struct UnsendableToken {
    /// What is wrong, with a 1-based character position, never the character itself.
    pub reason: String,
    /// The token's length in characters (safe to show).
    pub length: usize,
}

impl UnsendableToken {
    /// Always [`Code::Pf002`].
    pub fn code(&self) -> Code {
        Code::Pf002
    }
}

const BODY_LEN: usize = 34;

/// Checks a cleaned token's shape. `Err` when it can never be sent; `Ok` with warnings when
/// it merely looks unusual.
pub fn check_shape(token: &str) -> Result<ShapeCheck, UnsendableToken> {
    let length = token.chars().count();
    for (index, c) in token.chars().enumerate() {
        let position = index + 1;
        let reason = if c == ' ' {
            format!("a space at position {position}")
        } else if c.is_whitespace() {
            format!("a whitespace character at position {position}")
        } else if c.is_control() {
            format!("a control character at position {position}")
        } else if !c.is_ascii() {
            format!("a non-ASCII character at position {position}")
        } else {
            continue;
        };
        return Err(UnsendableToken { reason, length });
    }
    let alnum_body =
        |body: &str| body.len() == BODY_LEN && body.chars().all(|c| c.is_ascii_alphanumeric());
    let (kind, warnings) = if token.starts_with("hf_oauth_") {
        (TokenKind::OAuth, Vec::new())
    } else if let Some(body) = token.strip_prefix("hf_") {
        if alnum_body(body) {
            (TokenKind::UserAccess, Vec::new())
        } else {
            (
                TokenKind::Unusual,
                vec![format!(
                    "the token starts with hf_ but is {length} characters long or holds other characters; \
                     user access tokens are usually hf_ followed by {BODY_LEN} letters and digits (checking with the Hub anyway)"
                )],
            )
        }
    } else if token.starts_with("api_org_") {
        (
            TokenKind::OrgApi,
            vec![
                "this is a legacy organisation API token (api_org_…): `hf auth login` refuses it and \
                 most Hub actions need a personal access token; create one at https://huggingface.co/settings/tokens"
                    .to_owned(),
            ],
        )
    } else {
        (
            TokenKind::Unusual,
            vec![format!(
                "the token ({length} characters) does not start with hf_, so it does not look like a \
                 Hugging Face access token (checking with the Hub anyway)"
            )],
        )
    };
    Ok(ShapeCheck { kind, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_token_has_no_warning() {
        let check = check_shape("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").expect("sendable");
        assert_eq!(check.kind, TokenKind::UserAccess);
        assert!(check.warnings.is_empty());
    }

    #[test]
    fn unusual_shapes_only_warn() {
        let short = check_shape("hf_short").expect("sendable");
        assert_eq!(short.kind, TokenKind::Unusual);
        assert_eq!(short.warnings.len(), 1);
        let org = check_shape("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").expect("sendable");
        assert_eq!(org.kind, TokenKind::OrgApi);
        assert!(org.warnings[0].contains("organisation"));
        let other = check_shape("ghp_something").expect("sendable");
        assert!(other.warnings[0].contains("does not start with hf_"));
        let oauth = check_shape("hf_oauth_abc").expect("sendable");
        assert_eq!(oauth.kind, TokenKind::OAuth);
    }

    #[test]
    fn unsendable_tokens_are_rejected_without_echo() {
        let secret = "hf_abc def";
        let error = check_shape(secret).expect_err("space");
        assert_eq!(error.code(), Code::Pf002);
        assert!(error.to_string().contains("a space at position 7"));
        assert!(!error.to_string().contains(secret));
        assert!(
            check_shape("hf_a\tb")
                .unwrap_err()
                .reason
                .contains("whitespace")
        );
        assert!(
            check_shape("hf_a\u{7}b")
                .unwrap_err()
                .reason
                .contains("control")
        );
        let non_ascii = check_shape("hf_abcé").unwrap_err();
        assert!(
            non_ascii
                .reason
                .contains("non-ASCII character at position 7")
        );
        assert!(!non_ascii.to_string().contains('é'));
    }
}
