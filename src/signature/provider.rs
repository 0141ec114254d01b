//! Provider presets: the facts about each sender that do not depend on a request.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use secrecy::ExposeSecret;

/// Tolerance of every timestamped scheme unless the hook overrides it.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// A sender whose signature scheme, delivery id and event type hookgate knows.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    /// Any HMAC sender: the hook names the header and the hash.
    Generic,
    Github,
    Gitlab,
    Bitbucket,
    /// Gitea and Forgejo.
    Gitea,
    Stripe,
    Shopify,
    Slack,
    Paddle,
    /// Any sender following <https://www.standardwebhooks.com>.
    StandardWebhooks,
}

/// Where a request carries a piece of information.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The provider does not send it.
    None,
    /// The first of these headers that is present (names in lower case).
    Header(&'static [&'static str]),
    /// A top-level field of the JSON body.
    Body(&'static str),
}

impl Provider {
    /// Every preset, `Generic` first.
    pub const ALL: &'static [Provider] = &[
        Provider::Generic,
        Provider::Github,
        Provider::Gitlab,
        Provider::Bitbucket,
        Provider::Gitea,
        Provider::Stripe,
        Provider::Shopify,
        Provider::Slack,
        Provider::Paddle,
        Provider::StandardWebhooks,
    ];

    /// Reads the name used in the API (`"github"`, `"standard-webhooks"`); case does not matter.
    pub fn parse(s: &str) -> Option<Provider> {
        Self::ALL
            .iter()
            .copied()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
    }

    /// The name used in the API, as serde writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Generic => "generic",
            Provider::Github => "github",
            Provider::Gitlab => "gitlab",
            Provider::Bitbucket => "bitbucket",
            Provider::Gitea => "gitea",
            Provider::Stripe => "stripe",
            Provider::Shopify => "shopify",
            Provider::Slack => "slack",
            Provider::Paddle => "paddle",
            Provider::StandardWebhooks => "standard-webhooks",
        }
    }

    /// How far a signed timestamp may be from the clock, either way; `None` for schemes
    /// without a timestamp. GitLab is `None` because its default (token) mode has none; its
    /// Standard Webhooks mode still uses [`DEFAULT_TOLERANCE_SECS`].
    pub fn default_tolerance_secs(self) -> Option<u64> {
        match self {
            Provider::Stripe | Provider::Slack | Provider::Paddle | Provider::StandardWebhooks => {
                Some(DEFAULT_TOLERANCE_SECS)
            }
            _ => None,
        }
    }

    /// Where the provider puts its own delivery id, used to drop redeliveries.
    pub fn delivery_id_source(self) -> Source {
        match self {
            Provider::Generic => Source::None,
            Provider::Github => Source::Header(&["x-github-delivery"]),
            Provider::Gitlab => Source::Header(&["x-gitlab-webhook-uuid", "idempotency-key"]),
            Provider::Bitbucket => Source::Header(&["x-request-uuid", "x-request-id"]),
            Provider::Gitea => Source::Header(&["x-gitea-delivery", "x-forgejo-delivery"]),
            Provider::Stripe => Source::Body("id"),
            Provider::Shopify => Source::Header(&["x-shopify-webhook-id"]),
            Provider::Slack => Source::Body("event_id"),
            Provider::Paddle => Source::Body("event_id"),
            Provider::StandardWebhooks => Source::Header(&["webhook-id"]),
        }
    }

    /// The top-level body fields ingest itself reads for this provider: the delivery id and the
    /// event when they come in the body, and Slack's URL check (`type`, `challenge`).
    pub fn body_fields(self) -> Vec<&'static str> {
        let mut fields: Vec<&'static str> = [self.delivery_id_source(), self.event_source()]
            .into_iter()
            .filter_map(|s| match s {
                Source::Body(field) => Some(field),
                _ => None,
            })
            .collect();
        if self == Provider::Slack {
            fields.extend(["type", "challenge"]);
        }
        fields
    }

    /// Where the provider names the kind of event.
    pub fn event_source(self) -> Source {
        match self {
            Provider::Generic => Source::None,
            Provider::Github => Source::Header(&["x-github-event"]),
            Provider::Gitlab => Source::Header(&["x-gitlab-event"]),
            Provider::Bitbucket => Source::Header(&["x-event-key"]),
            Provider::Gitea => Source::Header(&["x-gitea-event", "x-forgejo-event"]),
            Provider::Stripe => Source::Body("type"),
            Provider::Shopify => Source::Header(&["x-shopify-topic"]),
            Provider::Slack => Source::Body("type"),
            Provider::Paddle => Source::Body("event_type"),
            Provider::StandardWebhooks => Source::Body("type"),
        }
    }

    /// Headers that carry a secret or a signature, in lower case, to redact in the request
    /// log. For `Generic` the hook's own header must be added: see
    /// [`super::VerifyConfig::redacted_headers`].
    pub fn signature_headers(self) -> &'static [&'static str] {
        match self {
            Provider::Generic => &[super::DEFAULT_GENERIC_HEADER],
            Provider::Github => &["x-hub-signature-256", "x-hub-signature"],
            Provider::Gitlab => &["x-gitlab-token", "webhook-signature"],
            Provider::Bitbucket => &["x-hub-signature"],
            Provider::Gitea => &[
                "x-gitea-signature",
                "x-forgejo-signature",
                "x-gogs-signature",
            ],
            Provider::Stripe => &["stripe-signature"],
            Provider::Shopify => &["x-shopify-hmac-sha256"],
            Provider::Slack => &["x-slack-signature"],
            Provider::Paddle => &["paddle-signature"],
            Provider::StandardWebhooks => &["webhook-signature"],
        }
    }

    /// A new secret in the form this provider expects (e.g. `whsec_` + base64 of 32 random
    /// bytes for standard-webhooks; 32 random bytes, URL-safe base64, otherwise).
    pub fn generate_secret(self) -> String {
        match self {
            Provider::StandardWebhooks => {
                let mut bytes = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                format!("whsec_{}", STANDARD.encode(bytes))
            }
            _ => crate::crypto::generate_secret().expose_secret().to_string(),
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The hash under an HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    Sha1,
    #[default]
    Sha256,
    Sha512,
}

impl Algorithm {
    /// Reads `sha1`, `sha256` or `sha512`; case does not matter.
    pub fn parse(s: &str) -> Option<Algorithm> {
        [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512]
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
    }

    /// The name used in the API and in `sha256=` style prefixes.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// Length of the MAC in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
            Algorithm::Sha512 => 64,
        }
    }
}
