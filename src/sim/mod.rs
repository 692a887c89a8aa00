//! The built-in simulated EKS cluster: a Kubernetes API server on loopback backed by
//! a small world (node groups, workloads, scheduler, kubelets, controllers) that
//! moves on a virtual clock. Start it in-process with [`Simulator::start`], or as a
//! server with `upshift sim serve`.

pub mod api;
pub mod aws;
pub mod campaign;
pub mod clock;
pub mod kubeconfig;
pub mod scenario;
pub mod store;
pub mod tls;
pub mod world;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use self::api::{App, Identity, RequestCounts};
use self::clock::Clock;
use self::scenario::Scenario;
use self::world::World;

/// How a simulator is started.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub scenario: Scenario,
    /// Virtual seconds per real second, 1 to 600.
    pub speed: f64,
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// How often open watches that asked for bookmarks get one.
    pub bookmark_interval: Duration,
    /// A clock shared with other simulators (a campaign's clusters); else its own.
    pub clock: Option<Clock>,
}

impl SimConfig {
    pub fn new(scenario: Scenario) -> Self {
        SimConfig {
            scenario,
            speed: 1.0,
            port: 0,
            bookmark_interval: Duration::from_secs(10),
            clock: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on 127.0.0.1:{port}: {source} (pick another --port, or 0 for any free port)")]
    Bind { port: u16, source: std::io::Error },
    #[error("scenario {name:?} cannot be built: {message}")]
    Build { name: String, message: String },
}

/// Why a client for the simulator could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the simulator's kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    #[error(transparent)]
    Client(#[from] kube::Error),
}

/// The two identities every simulator knows, with their bearer tokens.
#[derive(Clone, Debug)]
pub struct Tokens {
    pub lead: String,
    pub viewer: String,
    /// Read-only, and RBAC hides events and cluster-wide pods from it.
    pub restricted: String,
}

/// A running simulator. Dropping it stops the server.
pub struct Simulator {
    addr: SocketAddr,
    app: Arc<App>,
    ca_pem: String,
    tokens: Tokens,
    cluster_name: String,
    aws_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    aws_shutdown: Option<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
}

fn token(rng_seed: u64, who: &str) -> String {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(rng_seed ^ u64::from(world::fnv(who.as_bytes())));
    let n: u128 = rng.random();
    format!("{who}-{n:032x}")
}

impl Simulator {
    /// Builds the scenario's world and serves it on 127.0.0.1.
    pub async fn start(cfg: SimConfig) -> Result<Simulator, SimError> {
        let listener = TcpListener::bind(("127.0.0.1", cfg.port))
            .await
            .map_err(|source| SimError::Bind { port: cfg.port, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| SimError::Bind { port: cfg.port, source })?;
        let clock = cfg.clock.clone().unwrap_or_else(|| Clock::new(cfg.speed));
        let api_faults = cfg.scenario.api_faults.clone().unwrap_or_default();
        let name = cfg.scenario.name.clone();
        let cluster_name = cfg.scenario.cluster.name.clone();
        let world = tokio::task::spawn_blocking(move || world::build(&cfg.scenario, clock))
            .await
            .map_err(|e| SimError::Build {
                name: name.clone(),
                message: e.to_string(),
            })?
            .map_err(|message| SimError::Build { name, message })?;
        let seed = u64::from(std::process::id()) ^ (jiff::Timestamp::now().as_nanosecond() as u64);
        let tokens = Tokens {
            lead: token(seed, "lead"),
            viewer: token(seed, "viewer"),
            restricted: token(seed, "restricted"),
        };
        let mut ids = HashMap::new();
        ids.insert(
            tokens.lead.clone(),
            Identity {
                name: "lead".into(),
                groups: vec!["system:masters".into(), "system:authenticated".into()],
                read_only: false,
                hidden: &[],
                namespaced_only: &[],
            },
        );
        ids.insert(
            tokens.viewer.clone(),
            Identity {
                name: "viewer".into(),
                groups: vec!["upshift:viewers".into(), "system:authenticated".into()],
                read_only: true,
                hidden: &[],
                namespaced_only: &[],
            },
        );
        ids.insert(
            tokens.restricted.clone(),
            Identity {
                name: "restricted".into(),
                groups: vec!["upshift:restricted".into(), "system:authenticated".into()],
                read_only: true,
                hidden: &["events"],
                namespaced_only: &["pods"],
            },
        );
        let (drops, _) = tokio::sync::watch::channel(0);
        let app = Arc::new(App {
            world: Arc::new(Mutex::new(world)),
            tokens: ids,
            counts: Mutex::new(RequestCounts::default()),
            drops,
            bookmark_interval: cfg.bookmark_interval,
            server_url: format!("https://{addr}"),
            agents: Mutex::default(),
            faults: Mutex::new(api::faults::FaultState::new(api_faults)),
        });
        let tls = tls::generate().map_err(|message| SimError::Build {
            name: "tls".into(),
            message,
        })?;
        let router = axum::Router::new().fallback(api::handle).with_state(app.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(serve_tls(listener, tls.acceptor, router, rx));
        let (aws_listener, aws_addr) = bind_aws().await?;
        let aws_app = Arc::new(aws::AwsApp {
            world: app.world.clone(),
            k8s_url: format!("https://{addr}"),
            ca_pem: tls.ca_pem.clone(),
        });
        let (aws_tx, aws_rx) = oneshot::channel::<()>();
        let aws_server = tokio::spawn(aws::serve(aws_listener, aws_app, aws_rx));
        let ticker_world = app.world.clone();
        let ticker = tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(20));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                ticker_world.lock().tick();
            }
        });
        Ok(Simulator {
            addr,
            app,
            ca_pem: tls.ca_pem,
            tokens,
            cluster_name,
            aws_addr,
            shutdown: Some(tx),
            aws_shutdown: Some(aws_tx),
            tasks: vec![server, ticker, aws_server],
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT`: the simulated AWS endpoint (EKS, Auto Scaling,
    /// CloudWatch), for an SDK endpoint override.
    pub fn aws_url(&self) -> String {
        format!("http://{}", self.aws_addr)
    }

    /// The region and cluster name the simulated AWS endpoint answers for.
    pub fn aws_region(&self) -> String {
        self.app.world.lock().cluster.region.clone()
    }

    pub fn cluster_name(&self) -> &str {
        &self.cluster_name
    }

    /// Shell lines that point the AWS CLI and SDKs at the simulated endpoint with
    /// dummy credentials (`export AWS_ENDPOINT_URL=…`), for `sim serve` to write.
    pub fn aws_env(&self) -> String {
        format!(
            "export AWS_ENDPOINT_URL={url}\nexport AWS_REGION={region}\nexport AWS_DEFAULT_REGION={region}\nexport AWS_ACCESS_KEY_ID=upshift-sim\nexport AWS_SECRET_ACCESS_KEY=upshift-sim\nexport AWS_EC2_METADATA_DISABLED=true\n",
            url = self.aws_url(),
            region = self.aws_region()
        )
    }

    /// Writes [`Simulator::aws_env`] to `path` (mode 0600).
    pub fn write_aws_env(&self, path: &Path) -> std::io::Result<()> {
        kubeconfig::write(path, &self.aws_env())
    }

    /// Refuses the next `n` AWS requests with a throttling error (fault injection).
    pub fn throttle_aws(&self, n: u32) {
        self.app.world.lock().aws.faults.throttle_next = n;
    }

    /// Sets AWS throttling and server-error rates by operation (seeded), as the
    /// scenario's `awsFaults` and `POST /sim/aws-faults` do.
    pub fn set_aws_faults(&self, spec: &scenario::aws::AwsFaultsSpec) {
        let mut w = self.app.world.lock();
        let seed = w.aws.faults.seed;
        w.aws.faults.set(spec, seed);
    }

    /// AWS faults injected so far, by operation.
    pub fn aws_faults_injected(&self) -> std::collections::BTreeMap<String, world::aws_faults::Injected> {
        self.app.world.lock().aws.faults.injected.clone()
    }

    /// Pods that died with their node without being evicted or deleted first (an
    /// instance terminated under them): `(count, latest "namespace/name on node")`.
    pub fn pods_lost(&self) -> (u64, Vec<String>) {
        let w = self.app.world.lock();
        let lost = &w.aws.lifecycle.pods_lost;
        (lost.count, lost.recent.clone())
    }

    /// AWS requests served, by operation name.
    pub fn aws_request_counts(&self) -> std::collections::BTreeMap<String, u64> {
        self.app.world.lock().aws.requests.clone()
    }

    /// The certificate authority (PEM) that signed the server's certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    /// A kubeconfig with the contexts `lead` (current), `viewer` and `restricted`.
    pub fn kubeconfig(&self) -> String {
        kubeconfig::render(&self.cluster_name, &self.url(), &self.ca_pem, &self.tokens)
    }

    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        kubeconfig::write(path, &self.kubeconfig())
    }

    /// A `kube::Client` for context `lead`, `viewer` or `restricted`, through the kubeconfig.
    pub async fn client(&self, context: &str) -> Result<kube::Client, ClientError> {
        let kc = kube::config::Kubeconfig::from_yaml(&self.kubeconfig())?;
        let opts = kube::config::KubeConfigOptions {
            context: Some(context.to_string()),
            ..Default::default()
        };
        let mut config = kube::Config::from_custom_kubeconfig(kc, &opts).await?;
        // kube retries 429 answers for minutes by default; an eviction refused by a
        // PodDisruptionBudget is a 429 that callers must see at once
        config.default_retry = false;
        Ok(kube::Client::try_from(config)?)
    }

    /// The world, for tests and the demo to look at and steer.
    pub fn world(&self) -> Arc<Mutex<World>> {
        self.app.world.clone()
    }

    pub fn request_counts(&self) -> RequestCounts {
        self.app.counts.lock().clone()
    }

    /// Requests served, by identity and by user agent (`kubectl/v1.32.4`, …).
    pub fn request_counts_by_agent(&self) -> api::counts::AgentCounts {
        self.app.agents.lock().clone()
    }

    /// Sets the Kubernetes API's faults (as `POST /sim/faults` does).
    pub fn set_api_faults(&self, faults: scenario::api_faults::ApiFaults) {
        self.app.faults.lock().set(faults);
    }

    /// The API faults injected so far.
    pub fn api_faults_injected(&self) -> api::faults::Injected {
        self.app.faults.lock().injected
    }

    /// Jumps virtual time forward and lets the world catch up at once.
    pub fn advance(&self, by: Duration) {
        let mut w = self.app.world.lock();
        w.clock.advance(by);
        w.tick();
    }

    /// Expires all watch history: watches from older versions get `410 Gone`.
    pub fn compact(&self) {
        self.app.world.lock().compact();
    }

    /// Ends every open watch stream, as a flaky load balancer would.
    pub fn drop_watches(&self) {
        self.app.drops.send_modify(|n| *n += 1);
    }

    /// Stops serving and waits for the server to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(tx) = self.aws_shutdown.take() {
            let _ = tx.send(());
        }
        for t in self.tasks.drain(..) {
            t.abort();
            let _ = t.await;
        }
    }
}

/// Accepts TLS connections and serves HTTP/1.1 on each until told to stop.
async fn serve_tls(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    router: axum::Router,
    mut stop: oneshot::Receiver<()>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("accepting a connection: {e}");
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        connections.spawn(async move {
            let _ = tcp.set_nodelay(true);
            let stream = match acceptor.accept(tcp).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!("TLS handshake failed: {e}");
                    return;
                }
            };
            let service = api::faults::DropReplies(hyper_util::service::TowerToHyperService::new(router));
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!("connection ended: {e}");
            }
        });
        while connections.try_join_next().is_some() {}
    }
    connections.abort_all();
}

/// A free loopback port for the AWS endpoint.
async fn bind_aws() -> Result<(TcpListener, SocketAddr), SimError> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|source| SimError::Bind { port: 0, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| SimError::Bind { port: 0, source })?;
    Ok((listener, addr))
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(tx) = self.aws_shutdown.take() {
            let _ = tx.send(());
        }
        for t in &self.tasks {
            t.abort();
        }
    }
}
