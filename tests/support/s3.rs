//! A real S3 endpoint on loopback: s3s over a directory, checking SigV4.

use std::net::SocketAddr;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use sceneflow::storage::S3Settings;

pub const ACCESS_KEY: &str = "sceneflow-test";
pub const SECRET_KEY: &str = "sceneflow-test-secret";

pub struct S3Server {
    pub addr: SocketAddr,
    pub root: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl S3Server {
    pub async fn start(buckets: &[&str]) -> S3Server {
        let root = tempfile::tempdir().expect("a temporary directory");
        for b in buckets {
            std::fs::create_dir_all(root.path().join(b)).expect("create the bucket directory");
        }
        let fs = s3s_fs::FileSystem::new(root.path()).expect("an s3s-fs root");
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("an address");
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let service = service.clone();
                tokio::spawn(async move {
                    let _ = ConnBuilder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        S3Server { addr, root, task }
    }

    pub fn settings(&self) -> S3Settings {
        settings_for(&format!("http://{}", self.addr))
    }

    pub async fn client(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .endpoint_url(format!("http://{}", self.addr))
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                ACCESS_KEY, SECRET_KEY, None, None, "test",
            ))
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

pub fn settings_for(endpoint: &str) -> S3Settings {
    S3Settings {
        endpoint_url: Some(endpoint.to_owned()),
        region: Some("us-east-1".into()),
        access_key_id: Some(ACCESS_KEY.into()),
        secret_access_key: Some(SECRET_KEY.into()),
        force_path_style: Some(true),
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}
