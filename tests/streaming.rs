//! Large bodies stream through the gateway both ways with bounded memory.

mod harness;

use futures_util::StreamExt;
use harness::{GatewayBuilder, Mock, http};
use sha2::{Digest, Sha256};

const FIFTY_MB: usize = 50 * 1024 * 1024;

#[tokio::test]
async fn fifty_megabytes_pass_both_ways_with_bounded_memory() {
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock)
        .config("[limits]\nmax_request_bytes = 134217728")
        .start()
        .await;
    let before = gw.peak_rss_kib();

    // Upload, streamed from the client in 1 MiB chunks of varying content.
    let chunk_count = FIFTY_MB / (1024 * 1024);
    let mut expected = Sha256::new();
    let chunks: Vec<Vec<u8>> = (0..chunk_count)
        .map(|i| vec![(i % 251) as u8; 1024 * 1024])
        .collect();
    for c in &chunks {
        expected.update(c);
    }
    let stream = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
    let r = http()
        .put(gw.url("/api/echo/v1/upload"))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["bytes"].as_u64(), Some(FIFTY_MB as u64));
    assert_eq!(
        body["sha256"].as_str(),
        Some(hex(&expected.finalize()).as_str())
    );

    // Download.
    let r = http()
        .get(gw.url(&format!("/api/echo/v1/bytes/{FIFTY_MB}")))
        .send()
        .await
        .expect("download");
    assert_eq!(r.status(), 200);
    let mut received = 0usize;
    let mut stream = r.bytes_stream();
    while let Some(chunk) = stream.next().await {
        received += chunk.expect("chunk").len();
    }
    assert_eq!(received, FIFTY_MB);

    let after = gw.peak_rss_kib();
    let grown_mib = after.saturating_sub(before) / 1024;
    assert!(
        grown_mib < 32,
        "peak RSS grew by {grown_mib} MiB moving 2 × 50 MiB (from {before} KiB to {after} KiB)"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
