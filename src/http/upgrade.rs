//! The upgrade path of the HTTP server. actix-http hands every request that asks for a
//! WebSocket (`Upgrade: websocket`) or a tunnel (`CONNECT`) here with its connection, instead of
//! serving it in the connection's HTTP dispatcher. The request still goes through the app
//! (routes, middleware, checks, error responses: nothing differs); then:
//!
//! - a 101 response from `socket::accept` (the `/ws` route) is written, the socket is taken
//!   over and served by `socket::Connection` for the WebSocket's life. The dispatcher's read and
//!   write buffers (8 KiB each) and the request are freed: an idle WebSocket costs a few hundred
//!   bytes instead of about 17 KiB;
//! - any other response is written as usual and the connection closed, since after an upgrade
//!   request what the client sends next need not be HTTP.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_codec::{AsyncRead, AsyncWrite, Framed};
use actix_http::body::{BodySize, BoxBody, MessageBody};
use actix_http::h1;
use actix_http::{ConnectionType, HttpMessage, Request, Response, StatusCode};
use actix_service::{Service, ServiceFactory, fn_factory, fn_service};
use actix_web::dev::ServiceResponse;
use futures_util::future::LocalBoxFuture;

use crate::actors::ws_session::socket::{Accept, Connection, Upgradable};

/// The upgrade service over `app`, an instance of the app of its own (one per worker).
pub fn factory<A, B, T>(
    app: A,
) -> impl ServiceFactory<
    (Request, Framed<T, h1::Codec>),
    Config = (),
    Response = (),
    Error = actix_http::Error,
    InitError = (),
>
where
    A: ServiceFactory<
            Request,
            Config = (),
            Response = ServiceResponse<B>,
            Error = Response<BoxBody>,
        > + 'static,
    B: MessageBody + 'static,
    A::InitError: std::fmt::Debug,
    A::Service: 'static,
    A::Future: 'static,
    <A::Service as Service<Request>>::Future: 'static,
    T: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let app = Rc::new(app);
    fn_factory(move || {
        let init = app.new_service(());
        async move {
            let app = Rc::new(init.await.map_err(|e| {
                tracing::error!(error = ?e, "the upgrade path's app did not start");
            })?);
            Ok(fn_service(move |(req, framed)| {
                Upgrade::Handshake(Box::pin(handshake(app.clone(), req, framed)))
            }))
        }
    })
}

/// One upgrade request's connection: first its request (boxed, freed after it), then, for a
/// WebSocket, the socket itself (held inline by the connection's task).
pub enum Upgrade<T> {
    Handshake(LocalBoxFuture<'static, Option<Connection<T>>>),
    Open(Connection<T>),
}

impl<T: AsyncRead + AsyncWrite + Unpin> Future for Upgrade<T> {
    type Output = Result<(), actix_http::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match this {
                Upgrade::Handshake(f) => match f.as_mut().poll(cx) {
                    Poll::Ready(Some(connection)) => *this = Upgrade::Open(connection),
                    Poll::Ready(None) => return Poll::Ready(Ok(())),
                    Poll::Pending => return Poll::Pending,
                },
                Upgrade::Open(connection) => return Pin::new(connection).poll(cx).map(Ok),
            }
        }
    }
}

/// Serves the request through the app and writes its response; returns the WebSocket
/// connection when the app accepted one.
async fn handshake<S, B, T>(
    app: Rc<S>,
    req: Request,
    framed: Framed<T, h1::Codec>,
) -> Option<Connection<T>>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = Response<BoxBody>>,
    B: MessageBody + 'static,
    T: AsyncRead + AsyncWrite + Unpin,
{
    req.extensions_mut().insert(Upgradable);
    let mut res = match app.call(req).await {
        Ok(res) => Response::from(res.map_into_boxed_body()),
        Err(res) => res,
    };
    let accept = match res.status() {
        StatusCode::SWITCHING_PROTOCOLS => res.extensions_mut().remove::<Accept>(),
        _ => None,
    };
    let written = match accept {
        Some(accept) => switch(framed, res)
            .await
            .map(|(io, leftover)| Some(accept.open(io, &leftover))),
        None => respond_and_close(framed, res).await.map(|()| None),
    };
    written.unwrap_or_else(|e| {
        tracing::debug!(error = %e, "could not answer an upgrade request");
        None
    })
}

/// Writes the 101 response; returns the socket and what the client sent after its request.
async fn switch<T: AsyncRead + AsyncWrite + Unpin>(
    mut framed: Framed<T, h1::Codec>,
    res: Response<BoxBody>,
) -> io::Result<(T, bytes::BytesMut)> {
    let (head, _) = res.into_parts();
    Pin::new(&mut framed).write(h1::Message::Item((head, BodySize::None)))?;
    poll_fn(|cx| Pin::new(&mut framed).flush::<Head>(cx)).await?;
    let parts = framed.into_parts();
    Ok((parts.io, parts.read_buf))
}

/// Writes an ordinary response, then closes the connection.
async fn respond_and_close<T: AsyncRead + AsyncWrite + Unpin>(
    mut framed: Framed<T, h1::Codec>,
    mut res: Response<BoxBody>,
) -> io::Result<()> {
    res.head_mut().set_connection_type(ConnectionType::Close);
    let (head, body) = res.into_parts();
    let size = body.size();
    Pin::new(&mut framed).write(h1::Message::Item((head, size)))?;
    let mut body = std::pin::pin!(body);
    loop {
        let chunk = match poll_fn(|cx| body.as_mut().poll_next(cx)).await {
            Some(Ok(bytes)) => Some(bytes),
            Some(Err(e)) => return Err(io::Error::other(e.to_string())),
            None => None,
        };
        let last = chunk.is_none();
        Pin::new(&mut framed).write(h1::Message::Chunk(chunk))?;
        poll_fn(|cx| Pin::new(&mut framed).flush::<Head>(cx)).await?;
        if last {
            break;
        }
    }
    let mut io = framed.into_parts().io;
    poll_fn(|cx| Pin::new(&mut io).poll_shutdown(cx)).await
}

/// What the h1 codec writes a response head from.
type Head = h1::Message<(Response<()>, BodySize)>;
