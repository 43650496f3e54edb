//! A TCP listener whose connections can be reset (RST) from a handler.
//!
//! Each accepted stream carries a shared kill flag ([`ConnCtl`]) that reaches the
//! handlers through `ConnectInfo`. Once the flag is set, the next write fails and
//! the stream is dropped with `SO_LINGER = 0`, so the peer sees a reset.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Per-connection control handle.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConnCtl {
    kill: Arc<AtomicBool>,
}

impl ConnCtl {
    /// Reset the connection at the next write (and on drop).
    pub(crate) fn kill(&self) {
        self.kill.store(true, Ordering::SeqCst);
    }
    /// Whether [`ConnCtl::kill`] was called.
    pub(crate) fn is_killed(&self) -> bool {
        self.kill.load(Ordering::SeqCst)
    }
}

pub(crate) struct KillableListener {
    pub(crate) inner: TcpListener,
}

pub(crate) struct KillableStream {
    inner: TcpStream,
    ctl: ConnCtl,
}

impl Listener for KillableListener {
    type Io = KillableStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((s, a)) => {
                    let _ = s.set_nodelay(true);
                    return (
                        KillableStream {
                            inner: s,
                            ctl: ConnCtl::default(),
                        },
                        a,
                    );
                }
                Err(e) => {
                    tracing::warn!("accept error: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

impl Connected<IncomingStream<'_, KillableListener>> for ConnCtl {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        stream.io().ctl.clone()
    }
}

impl KillableStream {
    fn killed(&self) -> bool {
        self.ctl.kill.load(Ordering::SeqCst)
    }
    fn reset_err(&self) -> io::Error {
        let _ = self.inner.set_zero_linger();
        io::Error::new(io::ErrorKind::ConnectionReset, "emulated connection reset")
    }
}

impl Drop for KillableStream {
    fn drop(&mut self) {
        if self.killed() {
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.killed() {
            return Poll::Ready(Err(self.reset_err()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.killed() {
            return Poll::Ready(Err(self.reset_err()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Err(self.reset_err()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Err(self.reset_err()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
