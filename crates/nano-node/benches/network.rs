fn main() {} // placeholder until the network benchmark lands
