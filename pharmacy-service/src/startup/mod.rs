//! The composition root: [`Application::build`] binds the listener and assembles the HTTP
//! state and router from a [`Config`]; `serve` ([`service`]), the demo and every test start
//! the service through it.
//!
//! ```no_run
//! # async fn f(app: pharmacy_service::app::App) -> std::io::Result<()> {
//! use pharmacy_service::startup::{Application, Config};
//! use pharmacy_service::whatsapp::FakeWhatsapp;
//! use std::sync::Arc;
//! let application = Application::build(Config::new(app, Arc::new(FakeWhatsapp::default()))).await?;
//! println!("serving on {}", application.url());
//! application.run_until_stopped().await
//! # }
//! ```

pub mod service;

use crate::alerts::Alerts;
use crate::app::{App, WhatsappLink};
use crate::http::{AppState, HttpConfig};
use axum::Router;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the service is assembled from.
pub struct Config {
    /// Where to listen (port 0 picks a free one).
    pub listen: SocketAddr,
    /// The service core.
    pub app: App,
    /// The WhatsApp link (the bridge over whatsapp-client, the demo's, or a fake).
    pub whatsapp: Arc<dyn WhatsappLink>,
    /// HTTP settings.
    pub http: HttpConfig,
    /// Web Push and webhooks; `None`: alerts whose VAPID key lives in memory only.
    pub alerts: Option<Arc<Alerts>>,
    /// Routes served beside the API's (the demo's "simulate phone scan"); they get the same
    /// connection limits but none of the API's layers.
    pub extra_routes: Option<Router>,
}

impl Config {
    /// `app` and `whatsapp` on 127.0.0.1, a free port, default HTTP settings.
    pub fn new(app: App, whatsapp: Arc<dyn WhatsappLink>) -> Config {
        Config {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            app,
            whatsapp,
            http: HttpConfig::default(),
            alerts: None,
            extra_routes: None,
        }
    }
}

/// The assembled service, bound and ready to serve.
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    state: AppState,
    router: Router,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Binds `config.listen` and assembles the state and the router.
    pub async fn build(config: Config) -> std::io::Result<Application> {
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let mut state = AppState::new(config.app, config.whatsapp, config.http);
        if let Some(alerts) = config.alerts {
            state = state.with_alerts(alerts);
        }
        let mut router = crate::http::router(state.clone());
        if let Some(extra) = config.extra_routes {
            router = router.merge(extra);
        }
        Ok(Application {
            listener,
            addr,
            state,
            router,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What every handler gets.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The whole router (for `tower::ServiceExt::oneshot` where no socket is needed).
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// Serves until `shutdown` resolves, then finishes the requests in flight.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let limits = self.state.config.connections;
        crate::http::server::serve(self.listener, self.router, limits, shutdown).await
    }

    /// Serves until the process ends.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(std::future::pending()).await
    }

    /// Serves on a task of its own; the handle stops it.
    pub fn spawn(self) -> Running {
        let (stop, mut stopped) = watch::channel(false);
        let (addr, state) = (self.addr, self.state.clone());
        let server = tokio::spawn(self.run_until(async move {
            // A dropped handle (the sender gone) is no stop: it keeps serving.
            if stopped.wait_for(|s| *s).await.is_err() {
                std::future::pending::<()>().await;
            }
        }));
        Running {
            addr,
            state,
            stop,
            server: Some(server),
        }
    }
}

/// A spawned [`Application`]. Dropping the handle leaves it serving.
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// What every handler gets.
    pub state: AppState,
    stop: watch::Sender<bool>,
    /// `None` once [`Running::finished`] has seen it end.
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Running {
    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Resolves when the server ends by itself (an error of the listener).
    /// (Pending for ever once it has resolved.)
    pub async fn finished(&mut self) -> std::io::Result<()> {
        let Some(server) = &mut self.server else {
            return std::future::pending().await;
        };
        let r = server.await;
        self.server = None;
        r.unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }

    /// Stops accepting connections and lets the requests in flight finish, for at most
    /// `drain`; the connections still open then (live sockets) are closed.
    pub async fn stop(mut self, drain: Duration) -> std::io::Result<()> {
        let _ = self.stop.send(true);
        let Some(mut server) = self.server.take() else {
            return Ok(());
        };
        match tokio::time::timeout(drain, &mut server).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(std::io::Error::other(e)),
            Err(_) => {
                tracing::info!("closing the connections still open (live sockets)");
                server.abort();
                Ok(())
            }
        }
    }
}
