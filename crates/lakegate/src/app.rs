//! Wiring: the running server over the web layer's state. (With `cli::serve`, the one
//! place outside `http/` that knows the web layer.)

use tokio::net::TcpListener;

pub use crate::http::state::{AppState, WebSettings};

/// Serves `state` on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (router, _) = crate::http::router(state);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
