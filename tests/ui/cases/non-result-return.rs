use retry_runtime::retry;

#[retry]
fn fetch() -> Option<u32> {
    Some(1)
}

#[retry]
async fn fetch_async() -> Option<u32> {
    Some(1)
}

fn main() {
    let _ = fetch();
    let _ = fetch_async();
}
