package packet_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/moatmq/moat/internal/packet"
)

// A broker's read loop: version 0 until the CONNECT, then its version.
func ExampleReader() {
	var wire []byte
	wire, _ = packet.Append(wire, &packet.Connect{Version: packet.V5, CleanStart: true, ClientID: "c1"}, 0)
	wire = packet.AppendPublish(wire, &packet.Publish{QoS: 1, PacketID: 1, Topic: "a/b", Payload: []byte("hi")}, packet.V5)

	r := packet.NewReader(bytes.NewReader(wire), 4096)
	r.SetMaxPacketSize(64 << 10)
	var v packet.Version
	for {
		p, err := r.ReadPacket(v)
		var perr *packet.Error
		switch {
		case err == io.EOF:
			return
		case errors.As(err, &perr):
			fmt.Println("refuse with", perr.Code) // DISCONNECT or CONNACK with perr.Code
			return
		case err != nil:
			return
		}
		switch p := p.(type) {
		case *packet.Connect:
			v = p.Version
			fmt.Println("connect", p.ClientID, v)
		case *packet.Publish:
			fmt.Println("publish", p.Topic, len(p.Payload))
			ack := packet.AppendPuback(nil, p.PacketID, packet.Success, nil, v)
			fmt.Printf("puback % x\n", ack)
		}
	}
	// Output:
	// connect c1 5.0
	// publish a/b 2
	// puback 40 02 00 01
}
