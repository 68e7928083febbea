//! A real (small) authoritative DNS server on 127.0.0.1:0/UDP that a test controls: A and AAAA
//! records per name, changeable at run time, NXDOMAIN for unknown names, and a `stop`.
#![allow(dead_code, reason = "used by some test binaries only")]

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

pub struct DnsServer {
    pub addr: SocketAddr,
    records: Arc<Mutex<HashMap<String, Vec<IpAddr>>>>,
    pub queries: Arc<std::sync::atomic::AtomicUsize>,
    task: JoinHandle<()>,
}

const TTL: u32 = 1;

impl DnsServer {
    pub async fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let records: Arc<Mutex<HashMap<String, Vec<IpAddr>>>> = Arc::default();
        let queries = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (r, q) = (records.clone(), queries.clone());
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                    continue;
                };
                let Ok(query) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                q.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let reply = answer(&query, &r.lock().unwrap());
                if let Ok(bytes) = reply.to_vec() {
                    let _ = socket.send_to(&bytes, peer).await;
                }
            }
        });
        Self {
            addr,
            records,
            queries,
            task,
        }
    }

    /// Sets the addresses of `name` (fully qualified, without the trailing dot).
    pub fn set(&self, name: &str, ips: &[IpAddr]) {
        self.records
            .lock()
            .unwrap()
            .insert(name.to_ascii_lowercase(), ips.to_vec());
    }

    /// Stops answering (the socket closes).
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn answer(query: &Message, records: &HashMap<String, Vec<IpAddr>>) -> Message {
    let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
    reply.metadata.authoritative = true;
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.message_type = MessageType::Response;
    let Some(q) = query.queries.first() else {
        reply.metadata.response_code = ResponseCode::FormErr;
        return reply;
    };
    reply.add_query(q.clone());
    let name = q
        .name()
        .to_ascii()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let Some(ips) = records.get(&name) else {
        reply.metadata.response_code = ResponseCode::NXDomain;
        return reply;
    };
    let owner: Name = q.name().clone();
    for ip in ips {
        let rdata = match (ip, q.query_type()) {
            (IpAddr::V4(v4), RecordType::A) => RData::A(A(*v4)),
            (IpAddr::V6(v6), RecordType::AAAA) => RData::AAAA(AAAA(*v6)),
            _ => continue,
        };
        reply.add_answer(Record::from_rdata(owner.clone(), TTL, rdata));
    }
    reply
}
