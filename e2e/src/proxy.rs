//! A TCP proxy between the browser and the server that a test can cut and restore.

use std::sync::Arc;

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;

use crate::{free_port, Error};

/// Forwards 127.0.0.1:`port` to the target port while up.
pub struct Proxy {
    /// The port the browser uses.
    pub port: u16,
    target: u16,
    up: watch::Sender<bool>,
    acceptor: Mutex<Option<JoinHandle<()>>>,
}

impl Proxy {
    /// Starts forwarding to `target`.
    pub async fn start(target: u16) -> Result<Arc<Proxy>, Error> {
        let proxy = Arc::new(Proxy {
            port: free_port(),
            target,
            up: watch::channel(true).0,
            acceptor: Mutex::new(None),
        });
        proxy.restore().await?;
        Ok(proxy)
    }

    /// URL of the proxied server.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Drops every connection and refuses new ones, like a lost network.
    pub async fn cut(&self) {
        self.up.send_replace(false);
        if let Some(task) = self.acceptor.lock().await.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Accepts connections again on the same port.
    pub async fn restore(&self) -> Result<(), Error> {
        self.up.send_replace(true);
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .map_err(|e| Error::Setup(format!("proxy bind: {e}")))?;
        let target = self.target;
        let up = self.up.subscribe();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut up = up.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target)).await else {
                        return;
                    };
                    let _ = inbound.set_nodelay(true);
                    let _ = outbound.set_nodelay(true);
                    tokio::select! {
                        _ = copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = up.wait_for(|u| !*u) => {}
                    }
                });
            }
        });
        *self.acceptor.lock().await = Some(task);
        Ok(())
    }
}
