high-availability {
    vrrp {
        group lan {
            address 10.0.0.1/24 {
                interface eth2
            }
            address 10.0.0.2/24 {
            }
            interface eth2
            peer-address 10.0.0.3
            peer-address 10.0.0.4
            vrid 2
        }
        group wan {
            address 2001:db8::1/64 {
            }
            interface eth0
            no-preempt
            vrid 1
        }
    }
}
service {
    conntrack-sync {
        interface eth1 {
        }
        interface eth2 {
            peer 192.0.2.2
            port 3781
        }
        listen-address 192.0.2.1
    }
}
