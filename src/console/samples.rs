//! A sample payload per provider for the test panel (the repository's `fixtures/`, and a small
//! GitHub push of our own), with the event header the provider sends beside it.

/// A provider's sample request.
pub struct Sample {
    pub body: &'static str,
    /// The header that carries the event name, when the provider sends one.
    pub event_header: Option<&'static str>,
    pub event: Option<&'static str>,
}

/// The sample of `provider`, if there is one.
pub fn for_provider(provider: &str) -> Option<Sample> {
    let (body, event_header, event) = match provider {
        "github" => (
            include_str!("samples/github_push.json"),
            Some("X-GitHub-Event"),
            Some("push"),
        ),
        "gitlab" => (
            include_str!("../../fixtures/gitlab/push.json"),
            Some("X-Gitlab-Event"),
            Some("Push Hook"),
        ),
        "gitea" => (
            include_str!("../../fixtures/gitea/push.json"),
            Some("X-Gitea-Event"),
            Some("push"),
        ),
        "bitbucket" => (
            include_str!("../../fixtures/bitbucket/repo_push.json"),
            Some("X-Event-Key"),
            Some("repo:push"),
        ),
        "stripe" => (
            include_str!("../../fixtures/stripe/payment_intent.succeeded.json"),
            None,
            None,
        ),
        "shopify" => (
            include_str!("../../fixtures/shopify/orders_create.json"),
            Some("X-Shopify-Topic"),
            Some("orders/create"),
        ),
        "slack" => (
            include_str!("../../fixtures/slack/event_callback.json"),
            None,
            None,
        ),
        "paddle" => (
            include_str!("../../fixtures/paddle/transaction.completed.json"),
            None,
            None,
        ),
        "standard-webhooks" => (
            include_str!("../../fixtures/standard-webhooks/invoice.paid.json"),
            None,
            None,
        ),
        "generic" => (
            include_str!("../../fixtures/generic/deploy.json"),
            None,
            None,
        ),
        _ => return None,
    };
    Some(Sample {
        body,
        event_header,
        event,
    })
}
