//! Settings: defaults, then an optional `sceneflow.toml`, then environment
//! variables. The file takes the same keys as the environment.

use std::collections::HashMap;

use crate::storage::S3Settings;

pub const DEFAULT_JWT_SECRET: &str = "sceneflow-development-secret-change-me";
/// Outside `development` the secret must be the operator's own and this long.
const MIN_SECRET_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Staging,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub bind: String,
    pub store: String,
    pub jwt_secret: String,
    pub debug: bool,
    pub env: Environment,
    pub sample: bool,
    pub max_upload_bytes: usize,
    pub db_pool_size: u32,
    pub workers: Option<usize>,
    pub log_format: LogFormat,
    pub s3: S3Settings,
    /// Single-person teams: the uploader may approve their own version.
    pub allow_self_approval: bool,
    /// Follow the channel pointers in the object store instead of the database's own.
    pub follow_store: bool,
    pub alerts: crate::alerts::AlertSettings,
    /// Dashboard sign-ins per client address and minute (docs/src/operations.md).
    pub sign_in_per_ip_per_minute: u32,
    /// Seconds a client may take to send a request body.
    pub body_timeout_secs: u64,
    /// Open connections per instance, at most.
    pub max_connections: usize,
    /// Open connections per client address (an IPv6 /64 counts as one) that
    /// may make requests; others are answered 429 and closed.
    pub max_connections_per_client: usize,
    pub analytics: crate::analytics::aggregator::AnalyticsSettings,
    /// How staged rollouts' guardrails are judged.
    pub rollouts: crate::release::guard::GuardSettings,
    /// Run cache and group commit of the answer path.
    pub answers: crate::onboarding::AnswerSettings,
    /// Seed of the Ed25519 key that signs offline bundles, 64 hex digits;
    /// `None`: derived from the JWT secret (docs/src/offline.md).
    pub bundle_key: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
    #[error("cannot read {path}: {message}")]
    File { path: String, message: String },
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

fn parse_bool(key: &'static str, raw: &str) -> Result<bool, ConfigError> {
    match raw.trim().to_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(invalid(key, format!("'{raw}' is not true or false"))),
    }
}

/// The 32 bytes of a hex-written Ed25519 seed.
fn bundle_seed(hex_seed: &str) -> Option<[u8; 32]> {
    hex::decode(hex_seed).ok()?.try_into().ok()
}

impl Settings {
    /// The seed of the key that signs offline bundles: `SCENEFLOW_BUNDLE_KEY`,
    /// else SHA-256 of a fixed label and the JWT secret, so every instance
    /// sharing a secret signs alike and the seed reveals nothing of it.
    pub fn bundle_seed(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        self.bundle_key
            .as_deref()
            .and_then(bundle_seed)
            .unwrap_or_else(|| {
                Sha256::new()
                    .chain_update(b"sceneflow offline bundle key\n")
                    .chain_update(self.jwt_secret.as_bytes())
                    .finalize()
                    .into()
            })
    }

    /// Read `sceneflow.toml` (or the file `SCENEFLOW_CONFIG` names) and the environment.
    pub fn load() -> Result<Settings, ConfigError> {
        let path = std::env::var("SCENEFLOW_CONFIG").ok();
        let file = match &path {
            Some(p) => Some(std::fs::read_to_string(p).map_err(|e| ConfigError::File {
                path: p.clone(),
                message: e.to_string(),
            })?),
            None => std::fs::read_to_string("sceneflow.toml").ok(),
        };
        Self::from_sources(file.as_deref(), |k| std::env::var(k).ok())
    }

    pub fn from_sources(
        file: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let mut values: HashMap<String, String> = HashMap::new();
        if let Some(text) = file {
            let table: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| ConfigError::File {
                        path: "sceneflow.toml".into(),
                        message: e.to_string(),
                    })?;
            for (k, v) in table {
                let v = match v {
                    toml::Value::String(s) => s,
                    other => other.to_string(),
                };
                values.insert(k.to_uppercase(), v);
            }
        }
        let get = |key: &str| {
            env(key)
                .or_else(|| values.get(key).cloned())
                .filter(|v| !v.trim().is_empty())
        };

        let env_kind = match get("SCENEFLOW_ENV").as_deref().map(str::trim) {
            None | Some("development") => Environment::Development,
            Some("staging") => Environment::Staging,
            Some("production") => Environment::Production,
            Some(other) => {
                return Err(invalid(
                    "SCENEFLOW_ENV",
                    format!("'{other}' is not development, staging or production"),
                ));
            }
        };
        let production = env_kind == Environment::Production;
        let flag = |key: &'static str, default: bool| {
            get(key).map(|v| parse_bool(key, &v)).unwrap_or(Ok(default))
        };
        let number = |key: &'static str, default: u64| -> Result<u64, ConfigError> {
            get(key)
                .map(|v| {
                    v.trim()
                        .parse::<u64>()
                        .map_err(|_| invalid(key, format!("'{v}' is not a whole number")))
                })
                .unwrap_or(Ok(default))
        };

        let settings = Settings {
            database_url: get("DATABASE_URL").unwrap_or_else(|| "sqlite://sceneflow.db".into()),
            bind: get("SCENEFLOW_BIND").unwrap_or_else(|| "127.0.0.1:8080".into()),
            store: get("SCENEFLOW_STORE").unwrap_or_else(|| "file://master_data/store".into()),
            jwt_secret: get("SCENEFLOW_JWT_SECRET").unwrap_or_else(|| DEFAULT_JWT_SECRET.into()),
            debug: flag("SCENEFLOW_DEBUG", !production)?,
            env: env_kind,
            sample: flag("SCENEFLOW_SAMPLE", !production)?,
            max_upload_bytes: number("SCENEFLOW_MAX_UPLOAD_MB", 20)? as usize * 1024 * 1024,
            db_pool_size: number("SCENEFLOW_DB_POOL_SIZE", 16)?.clamp(1, 1000) as u32,
            workers: get("SCENEFLOW_WORKERS")
                .map(|v| {
                    v.parse().map_err(|_| {
                        invalid("SCENEFLOW_WORKERS", format!("'{v}' is not a whole number"))
                    })
                })
                .transpose()?,
            log_format: match get("SCENEFLOW_LOG_FORMAT").as_deref() {
                Some("json") => LogFormat::Json,
                None | Some("text") => LogFormat::Text,
                Some(other) => {
                    return Err(invalid(
                        "SCENEFLOW_LOG_FORMAT",
                        format!("'{other}' is not text or json"),
                    ));
                }
            },
            s3: S3Settings::default(),
            allow_self_approval: flag("SCENEFLOW_SELF_APPROVAL", false)?,
            alerts: crate::alerts::AlertSettings {
                webhook: get("SCENEFLOW_ALERT_WEBHOOK"),
                pagerduty_routing_key: get("SCENEFLOW_PAGERDUTY_ROUTING_KEY"),
                pagerduty_url: get("SCENEFLOW_PAGERDUTY_URL")
                    .unwrap_or_else(|| "https://events.pagerduty.com/v2/enqueue".into()),
                client_errors_per_minute: number("SCENEFLOW_ALERT_CLIENT_ERRORS_PER_MINUTE", 100)?
                    as usize,
            },
            sign_in_per_ip_per_minute: number("SCENEFLOW_SIGN_IN_PER_MINUTE", 20)?.clamp(1, 100_000)
                as u32,
            body_timeout_secs: number("SCENEFLOW_BODY_TIMEOUT_SECS", 30)?.clamp(1, 3600),
            max_connections: number("SCENEFLOW_MAX_CONNECTIONS", 1024)?.clamp(1, 1_000_000)
                as usize,
            max_connections_per_client: number("SCENEFLOW_MAX_CONNECTIONS_PER_CLIENT", 256)?
                .clamp(1, 1_000_000) as usize,
            answers: crate::onboarding::AnswerSettings {
                run_cache: number("SCENEFLOW_RUN_CACHE_SIZE", 10_000)?.min(10_000_000) as usize,
                // quick_cache shares the budget out among its shards (4 per
                // core): below 16 MiB a shard could not keep a large run.
                run_cache_bytes: match number("SCENEFLOW_RUN_CACHE_BYTES", 64 << 20)? {
                    0 => 0,
                    n => n.max(16 << 20),
                },
                flow_cache_bytes: number(
                    "SCENEFLOW_FLOW_CACHE_BYTES",
                    crate::store::flows::DEFAULT_BYTES,
                )?
                .max(64 << 20),
                group_commit: std::time::Duration::from_micros(
                    number("SCENEFLOW_GROUP_COMMIT_US", 1000)?.min(2000),
                ),
            },
            analytics: crate::analytics::aggregator::AnalyticsSettings {
                // 0: this instance does not aggregate (docs/src/analytics.md "Analytics at scale").
                interval: std::time::Duration::from_millis(
                    match number("SCENEFLOW_ANALYTICS_INTERVAL_MS", 1000)? {
                        0 => 0,
                        ms => ms.clamp(10, 60_000),
                    },
                ),
                sink: match get("SCENEFLOW_EVENTS_SINK").as_deref() {
                    None | Some("none") => false,
                    Some("store") => true,
                    Some(other) => {
                        return Err(invalid(
                            "SCENEFLOW_EVENTS_SINK",
                            format!("'{other}' is not store or none"),
                        ));
                    }
                },
                retention_days: get("SCENEFLOW_EVENTS_RETENTION_DAYS")
                    .map(|_| number("SCENEFLOW_EVENTS_RETENTION_DAYS", 0))
                    .transpose()?,
            },
            rollouts: crate::release::guard::GuardSettings {
                // 0: this instance does not judge (docs/src/rollouts.md).
                interval: std::time::Duration::from_millis(
                    match number("SCENEFLOW_ROLLOUT_CHECK_MS", 60_000)? {
                        0 => 0,
                        ms => ms.clamp(100, 3_600_000),
                    },
                ),
                auto_abort: flag("SCENEFLOW_ROLLOUT_AUTO_ABORT", true)?,
            },
            bundle_key: get("SCENEFLOW_BUNDLE_KEY").map(|k| k.trim().to_owned()),
            follow_store: match get("SCENEFLOW_FOLLOW").as_deref() {
                None | Some("none") => false,
                Some("store") => true,
                Some(other) => {
                    return Err(invalid(
                        "SCENEFLOW_FOLLOW",
                        format!("'{other}' is not store or none"),
                    ));
                }
            },
        };
        settings.check()?;
        Ok(settings)
    }

    /// Refuse settings that would be unsafe where they are used.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.env != Environment::Development
            && (self.jwt_secret == DEFAULT_JWT_SECRET || self.jwt_secret.len() < MIN_SECRET_LEN)
        {
            return Err(invalid(
                "SCENEFLOW_JWT_SECRET",
                "staging and production need their own secret of at least 32 characters (for example: openssl rand -hex 32)",
            ));
        }
        crate::store::DbUrl::parse(&self.database_url)
            .map_err(|e| invalid("DATABASE_URL", e.to_string()))?;
        if self.analytics.retention_days.is_some() && !self.analytics.sink {
            return Err(invalid(
                "SCENEFLOW_EVENTS_RETENTION_DAYS",
                "deletes only events the sink has written: set SCENEFLOW_EVENTS_SINK=store too",
            ));
        }
        if self
            .bundle_key
            .as_deref()
            .is_some_and(|k| bundle_seed(k).is_none())
        {
            return Err(invalid(
                "SCENEFLOW_BUNDLE_KEY",
                "must be 64 hex digits, an Ed25519 seed (for example: openssl rand -hex 32)",
            ));
        }
        if !(self.store.starts_with("file://") || self.store.starts_with("s3://")) {
            return Err(invalid(
                "SCENEFLOW_STORE",
                format!("'{}' is not file://DIR or s3://BUCKET/PREFIX", self.store),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(file: Option<&str>, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_sources(file, |k| env.get(k).cloned())
    }

    #[test]
    fn the_bundle_key_is_a_hex_seed_or_derived_from_the_secret() {
        let err = from(None, &[("SCENEFLOW_BUNDLE_KEY", "not-hex")]).unwrap_err();
        assert!(err.to_string().contains("SCENEFLOW_BUNDLE_KEY"), "{err}");
        assert!(from(None, &[("SCENEFLOW_BUNDLE_KEY", "ab")]).is_err());
        let seed = "11".repeat(32);
        let set = from(None, &[("SCENEFLOW_BUNDLE_KEY", seed.as_str())]).unwrap();
        assert_eq!(set.bundle_seed(), [0x11; 32]);
        let derived = from(None, &[]).unwrap();
        let other = from(None, &[("SCENEFLOW_JWT_SECRET", "another-secret")]).unwrap();
        assert_ne!(derived.bundle_seed(), other.bundle_seed());
        assert_eq!(
            derived.bundle_seed(),
            from(None, &[]).unwrap().bundle_seed()
        );
    }

    #[test]
    fn defaults_are_the_embedded_setup() {
        let s = from(None, &[]).unwrap();
        assert_eq!(s.database_url, "sqlite://sceneflow.db");
        assert_eq!(s.bind, "127.0.0.1:8080");
        assert_eq!(s.store, "file://master_data/store");
        assert!(s.sample && s.debug);
    }

    #[test]
    fn environment_beats_file() {
        let s = from(
            Some("SCENEFLOW_BIND = \"0.0.0.0:9000\"\nSCENEFLOW_SAMPLE = false"),
            &[("SCENEFLOW_BIND", "127.0.0.1:1")],
        )
        .unwrap();
        assert_eq!(s.bind, "127.0.0.1:1");
        assert!(!s.sample);
    }

    #[test]
    fn production_refuses_the_default_secret() {
        let err = from(None, &[("SCENEFLOW_ENV", "production")]).unwrap_err();
        assert!(err.to_string().contains("SCENEFLOW_JWT_SECRET"));
        let s = from(
            None,
            &[
                ("SCENEFLOW_ENV", "production"),
                ("SCENEFLOW_JWT_SECRET", &"x".repeat(40)),
            ],
        )
        .unwrap();
        assert!(!s.sample && !s.debug);
    }

    #[test]
    fn only_development_runs_on_the_default_or_a_short_secret() {
        for env in ["staging", "production"] {
            let err = from(None, &[("SCENEFLOW_ENV", env)]).unwrap_err();
            assert!(err.to_string().contains("SCENEFLOW_JWT_SECRET"), "{env}");
            let short = from(
                None,
                &[("SCENEFLOW_ENV", env), ("SCENEFLOW_JWT_SECRET", "short")],
            );
            assert!(short.is_err(), "{env}");
        }
        assert!(from(None, &[("SCENEFLOW_ENV", "development")]).is_ok());
    }

    #[test]
    fn bad_values_are_named() {
        assert!(
            from(None, &[("SCENEFLOW_SAMPLE", "maybe")])
                .unwrap_err()
                .to_string()
                .contains("SCENEFLOW_SAMPLE")
        );
        assert!(
            from(None, &[("DATABASE_URL", "mysql://x")])
                .unwrap_err()
                .to_string()
                .contains("DATABASE_URL")
        );
    }

    #[test]
    fn an_analytics_interval_of_zero_turns_the_aggregator_off() {
        let interval = |ms: &str| {
            from(None, &[("SCENEFLOW_ANALYTICS_INTERVAL_MS", ms)])
                .unwrap()
                .analytics
                .interval
        };
        assert!(interval("0").is_zero());
        assert_eq!(interval("3").as_millis(), 10);
        assert_eq!(interval("2500").as_millis(), 2500);
    }

    #[test]
    fn the_events_sink_and_its_retention() {
        let s = from(
            None,
            &[
                ("SCENEFLOW_EVENTS_SINK", "store"),
                ("SCENEFLOW_EVENTS_RETENTION_DAYS", "90"),
            ],
        )
        .unwrap();
        assert!(s.analytics.sink);
        assert_eq!(s.analytics.retention_days, Some(90));
        for (env, named) in [
            (
                vec![("SCENEFLOW_EVENTS_SINK", "s3")],
                "SCENEFLOW_EVENTS_SINK",
            ),
            // Retention deletes only what the sink wrote: without it, refuse.
            (
                vec![("SCENEFLOW_EVENTS_RETENTION_DAYS", "90")],
                "SCENEFLOW_EVENTS_RETENTION_DAYS",
            ),
        ] {
            assert!(from(None, &env).unwrap_err().to_string().contains(named));
        }
    }
}
