use retry_runtime::retry;

#[retry(on = [Auth])]
fn fetch() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {
    let _ = fetch();
}
