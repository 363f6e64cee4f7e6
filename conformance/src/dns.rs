//! The stand-in for the suite's coredns Deployment (zone `foo.bar.com` with the `whoami`
//! plugin), and the DNS client the UDPRoute test uses. Messages are built with hickory-proto.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::net::UdpSocket;

/// Answers like coredns `whoami` for names under foo.bar.com: an authoritative reply with an
/// empty answer and the client's address and port in the additional section. Other names get
/// REFUSED (the real Corefile forwards them to public resolvers, which tests never use).
pub async fn serve_whoami(socket: UdpSocket) {
    let mut buf = vec![0u8; 4096];
    let zone = Name::from_ascii("foo.bar.com.").expect("a valid name");
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let Ok(query) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        let mut reply = Message::new();
        reply
            .set_id(query.id())
            .set_message_type(MessageType::Response)
            .set_op_code(OpCode::Query)
            .set_recursion_desired(query.recursion_desired())
            .add_queries(query.queries().to_vec());
        let name = query.queries().first().map(|q| q.name().clone());
        if name.as_ref().is_some_and(|n| zone.zone_of(n)) {
            reply.set_authoritative(true);
            let ip = match from {
                SocketAddr::V4(a) => RData::A(A(*a.ip())),
                SocketAddr::V6(a) => RData::AAAA(AAAA(*a.ip())),
            };
            reply.add_additional(Record::from_rdata(zone.clone(), 0, ip));
            let srv_name = Name::from_ascii("_udp.foo.bar.com.").expect("a valid name");
            reply.add_additional(Record::from_rdata(
                srv_name,
                0,
                RData::SRV(SRV::new(0, 0, from.port(), Name::root())),
            ));
        } else {
            reply.set_response_code(ResponseCode::Refused);
        }
        if let Ok(bytes) = reply.to_vec() {
            let _ = socket.send_to(&bytes, from).await;
        }
    }
}

/// `dns.Exchange` of an A query for `name` (RD set) with a 2 s deadline: Ok when a reply with
/// the query's id arrives.
pub async fn exchange_a(server: SocketAddr, name: &str) -> Result<Message, String> {
    let socket = UdpSocket::bind(if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    })
    .await
    .map_err(|e| e.to_string())?;
    socket.connect(server).await.map_err(|e| e.to_string())?;
    let id: u16 = rand_id();
    let mut q = Message::new();
    q.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(
            Name::from_ascii(name).map_err(|e| e.to_string())?,
            RecordType::A,
        ));
    socket
        .send(&q.to_vec().map_err(|e| e.to_string())?)
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(2), socket.recv(&mut buf))
        .await
        .map_err(|_| "no DNS reply within 2s".to_string())?
        .map_err(|e| e.to_string())?;
    let reply = Message::from_vec(&buf[..n]).map_err(|e| e.to_string())?;
    if reply.id() != id {
        return Err(format!("reply id {} (sent {id})", reply.id()));
    }
    Ok(reply)
}

fn rand_id() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish() as u16
}
