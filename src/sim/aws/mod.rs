//! The simulator's AWS endpoint: EKS (REST-JSON), Auto Scaling (query protocol, XML)
//! and CloudWatch (Smithy RPCv2 CBOR, awsJson1_0 or query) on one plain-HTTP loopback
//! listener, routed by
//! the service named in the SigV4 credential scope (or, failing that, by the shape of
//! the request). upshift's AWS client reaches it with an endpoint override.

pub mod autoscaling;
pub mod cbor;
pub mod cloudwatch;
pub mod eks;
mod eks_fargate;
pub mod wire;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request, Response, StatusCode};
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::world::World;

/// What the AWS endpoint serves from.
pub struct AwsApp {
    pub world: Arc<Mutex<World>>,
    /// The Kubernetes API's URL and CA (DescribeCluster reports them).
    pub k8s_url: String,
    pub ca_pem: String,
}

/// The three services served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Eks,
    AutoScaling,
    CloudWatch,
}

/// The service a request is for: the SigV4 credential scope's service name, else
/// the protocol's shape.
pub fn service_of(headers: &HeaderMap, method: &Method) -> Service {
    let scope = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split([',', ' ']).next())
        .and_then(|c| c.split('/').nth(3));
    match scope {
        Some("eks") => return Service::Eks,
        Some("autoscaling") => return Service::AutoScaling,
        Some("monitoring") => return Service::CloudWatch,
        _ => {}
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if header("smithy-protocol") == "rpc-v2-cbor"
        || header("content-type").starts_with("application/cbor")
        || header("x-amz-target").starts_with("GraniteServiceVersion20100801.")
    {
        Service::CloudWatch
    } else if method == Method::POST && header("content-type").starts_with("application/x-www-form-urlencoded") {
        Service::AutoScaling
    } else {
        Service::Eks
    }
}

/// The largest request body accepted.
const MAX_BODY: usize = 8 << 20;

async fn handle(State(app): State<Arc<AwsApp>>, req: Request<Body>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let service = service_of(&parts.headers, &parts.method);
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return Response::builder()
                .status(StatusCode::BAD_REQUEST)
                .body(Body::from(format!("cannot read the request body: {e}")))
                .unwrap_or_default();
        }
    };
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or_default().to_string();
    // an unsigned query-protocol request names its service by its API version
    let cloudwatch_query = service == Service::AutoScaling
        && form_urlencoded::parse(&body).any(|(k, v)| k == "Version" && v == cloudwatch::API_VERSION);
    match service {
        Service::Eks => eks::handle(&app, &parts.method, &path, &query, &body),
        Service::AutoScaling if !cloudwatch_query => autoscaling::handle(&app, &body),
        Service::AutoScaling | Service::CloudWatch => cloudwatch::handle(&app, &parts.headers, &path, &body),
    }
}

/// Serves the AWS endpoint on `listener` until `stop` fires.
pub async fn serve(listener: TcpListener, app: Arc<AwsApp>, stop: oneshot::Receiver<()>) {
    let router = axum::Router::new().fallback(handle).with_state(app);
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        let _ = stop.await;
    });
    if let Err(e) = server.await {
        tracing::warn!("the AWS endpoint stopped: {e}");
    }
}

/// Seconds since the epoch, as AWS JSON and CBOR carry timestamps.
pub fn epoch(t: jiff::Timestamp) -> f64 {
    t.as_millisecond() as f64 / 1000.0
}

/// A request id in the shape AWS uses.
pub fn request_id(w: &mut World) -> String {
    w.uid()
}
