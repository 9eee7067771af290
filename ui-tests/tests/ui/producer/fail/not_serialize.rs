use deimos::producer;

#[producer(topic = "widgets", schema = "com.example.Widget", key_config(none))]
#[derive(Debug)]
struct Widget {
    id: i64,
    name: String,
    price: f64,
    updated_at: i64,
}

fn main() {}
