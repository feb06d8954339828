//! AWS Secrets Manager, through the official SDK and the standard AWS configuration: the
//! credentials chain (env, profiles, SSO, web identity, instance roles), and the endpoint
//! overrides `AWS_ENDPOINT_URL_SECRETS_MANAGER` / `AWS_ENDPOINT_URL`. The region is the store's.
//! Values never leave `SecretValue`/plain strings handed to the caller, and no error message
//! carries a value or a credential.

use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::Client;

use crate::domain::external::{RemoteValue, RemoteVersion};
use crate::error::{Error, Result};

pub struct SecretsManager {
    client: Client,
    region: String,
    endpoint: String,
}

impl SecretsManager {
    pub async fn connect(region: &str) -> Self {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http);
        if !region.is_empty() {
            loader = loader.region(aws_config::Region::new(region.to_string()));
        }
        let config = loader.load().await;
        let region = config.region().map(|r| r.to_string()).unwrap_or_default();
        let endpoint = std::env::var("AWS_ENDPOINT_URL_SECRETS_MANAGER")
            .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|_| format!("https://secretsmanager.{region}.amazonaws.com"));
        SecretsManager {
            client: Client::new(&config),
            region,
            endpoint,
        }
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// The value a version or stage holds.
    pub async fn value(&self, secret: &str, version_id: Option<&str>, stage: Option<&str>) -> Result<RemoteValue> {
        let answer = self
            .client
            .get_secret_value()
            .secret_id(secret)
            .set_version_id(version_id.map(str::to_string))
            .set_version_stage(stage.map(str::to_string))
            .send()
            .await
            .map_err(|e| self.error(e, "GetSecretValue", secret))?;
        let text = answer.secret_string().map(str::to_string).ok_or_else(|| {
            Error::Usage(format!(
                "{secret} in AWS Secrets Manager holds a binary value (SecretBinary): the plugin writes text values only"
            ))
        })?;
        Ok(RemoteValue {
            version_id: answer.version_id().unwrap_or_default().to_string(),
            text,
        })
    }

    /// Every version of a remote secret with its stages (deprecated ones included).
    pub async fn versions(&self, secret: &str) -> Result<Vec<RemoteVersion>> {
        let mut versions = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = self
                .client
                .list_secret_version_ids()
                .secret_id(secret)
                .include_deprecated(true)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| self.error(e, "ListSecretVersionIds", secret))?;
            for v in page.versions() {
                versions.push(RemoteVersion {
                    id: v.version_id().unwrap_or_default().to_string(),
                    stages: v.version_stages().to_vec(),
                    created: v
                        .created_date()
                        .and_then(|d| jiff::Timestamp::from_second(d.secs()).ok()),
                });
            }
            match page.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_string()),
                _ => return Ok(versions),
            }
        }
    }

    /// A new version with `token` as its id, staged AWSPENDING only (AWSCURRENT is moved
    /// separately). A retry with the same token and value is a no-op at AWS.
    pub async fn put_pending(&self, secret: &str, token: &str, text: &str) -> Result<()> {
        self.client
            .put_secret_value()
            .secret_id(secret)
            .client_request_token(token)
            .secret_string(text)
            .version_stages(crate::domain::external::AWS_PENDING)
            .send()
            .await
            .map_err(|e| self.error(e, "PutSecretValue", secret))?;
        Ok(())
    }

    /// Move `stage` to version `to` (from version `from`, which must carry it); moving
    /// AWSCURRENT makes AWS put AWSPREVIOUS on the version it leaves. `to` None: only removed.
    pub async fn move_stage(&self, secret: &str, stage: &str, to: Option<&str>, from: Option<&str>) -> Result<()> {
        self.client
            .update_secret_version_stage()
            .secret_id(secret)
            .version_stage(stage)
            .set_move_to_version_id(to.map(str::to_string))
            .set_remove_from_version_id(from.map(str::to_string))
            .send()
            .await
            .map_err(|e| self.error(e, "UpdateSecretVersionStage", secret))?;
        Ok(())
    }

    /// Map an SDK error to the tool's: unreachable (exit 4, naming the endpoint), missing or
    /// refused credentials (exit 5, naming the action), not found (exit 6), else an API error.
    /// Only the service's error code and message are shown, never the request.
    fn error<E, R>(&self, error: SdkError<E, R>, action: &str, secret: &str) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        let chain = aws_sdk_secretsmanager::error::DisplayErrorContext(&error).to_string();
        match &error {
            SdkError::ServiceError(service) => {
                let code = service.err().code().unwrap_or("").to_string();
                let message = crate::render::clean(service.err().message().unwrap_or(""));
                match code.as_str() {
                    "ResourceNotFoundException" => Error::NotFound(format!(
                        "{secret} does not exist in AWS Secrets Manager ({}, {}): check the ExternalSecret's remoteRef.key and the store's region",
                        self.region, self.endpoint
                    )),
                    "AccessDeniedException" | "AccessDenied" => Error::ProviderDenied {
                        action: format!("secretsmanager:{action}"),
                        secret: secret.into(),
                        reason: message,
                    },
                    "UnrecognizedClientException" | "InvalidClientTokenId" | "ExpiredTokenException"
                    | "InvalidSignatureException" | "SignatureDoesNotMatch" => Error::ProviderCredentials {
                        reason: format!("AWS refused the credentials ({code})"),
                    },
                    _ => Error::Api {
                        action: format!("{action} {secret} in AWS Secrets Manager"),
                        message: format!("{code}: {message}"),
                    },
                }
            }
            _ if chain.contains("credentials") || chain.contains("Credentials") => Error::ProviderCredentials {
                reason: "no AWS credentials were found".into(),
            },
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => Error::ProviderUnreachable {
                endpoint: self.endpoint.clone(),
                region: self.region.clone(),
                reason: first_line(&chain),
            },
            _ => Error::Api {
                action: format!("{action} {secret} in AWS Secrets Manager"),
                message: first_line(&chain),
            },
        }
    }
}

fn first_line(text: &str) -> String {
    crate::render::clean(text.lines().next().unwrap_or(""))
}
