use deimos::producer;

#[producer(topic = "widgets", schema = "com.example.Widget", key_config(none))]
enum Widget {
    A,
}

fn main() {}
