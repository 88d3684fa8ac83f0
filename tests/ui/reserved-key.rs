use retry_runtime::retry;

#[retry(circuit_breaker = BREAKER)]
fn fetch() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {
    let _ = fetch();
}
