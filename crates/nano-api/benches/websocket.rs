fn main() {} // placeholder until the websocket benchmark lands
