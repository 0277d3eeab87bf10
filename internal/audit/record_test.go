package audit

import (
	"bytes"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/moatmq/moat/internal/packet"
)

var testTime = time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)

func sampleRecord() Record {
	r := RecordOf(Event{Time: testTime, Kind: AuthFailure, Listener: "tls",
		Remote: netip.MustParseAddrPort("203.0.113.7:51234"), ClientID: "sensor-1", Identity: "alice",
		Method: "password", Reason: packet.BadUserNameOrPassword, Detail: "wrong password"})
	r.Seq, r.Prev = 42, LineHash([]byte("previous"))
	return r
}

func TestRecordGolden(t *testing.T) {
	r := sampleRecord()
	got := string(r.AppendJSON(nil))
	want := `{"v":1,"seq":42,"time":"2026-01-02T03:04:05.123456789Z","kind":"auth.failure",` +
		`"listener":"tls","remote":"203.0.113.7:51234","client_id":"sensor-1","identity":"alice",` +
		`"method":"password","reason":134,"reason_name":"bad user name or password",` +
		`"detail":"wrong password","count":0,"suppressed_kind":"",` +
		`"prev":"` + LineHash([]byte("previous")) + `"}`
	if got != want {
		t.Fatalf("line:\n got %s\nwant %s", got, want)
	}
	back, err := ParseRecord([]byte(got))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", back, r)
	}
}

func TestRecordEscapesAndLimits(t *testing.T) {
	r := sampleRecord()
	r.Detail = "a\"b\\c\nd\re\tf\x00g\x1bh\x7fi\u0085j\u2028k\u2029l<>&é\xff"
	r.ClientID = strings.Repeat("é", 300) // 600 bytes
	r.Remote = ""
	r.Limit()
	line := r.AppendJSON(nil)
	wantDetail := `"detail":"a\"b\\c\nd\re\tf\u0000g\u001bh\u007fi\u0085j\u2028k\u2029l<>&é` + "\uFFFD" + `"`
	if !bytes.Contains(line, []byte(wantDetail)) {
		t.Fatalf("detail escaping: %s", line)
	}
	if len(r.ClientID) > maxField+len("…") || !strings.HasSuffix(r.ClientID, "…") {
		t.Fatalf("client id not cut: %d bytes", len(r.ClientID))
	}
	if bytes.ContainsAny(line, "\n\r") {
		t.Fatal("raw newline in a line")
	}
	back, err := ParseRecord(line)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", back, r)
	}
	// The worst case of every field stays under the line limit.
	w := Record{Seq: 1 << 63, Time: testTime, Prev: ZeroHash, Kind: "k"}
	ctl := strings.Repeat("\x01", 4096)
	w.Listener, w.Remote, w.ClientID, w.Identity, w.Method, w.ReasonName, w.Detail = ctl, ctl, ctl, ctl, ctl, ctl, ctl
	w.SuppressedKind = Kind(ctl)
	w.Limit()
	if n := len(w.AppendJSON(nil)); n > MaxLineSize {
		t.Fatalf("worst-case line of %d bytes", n)
	}
}

func TestParseRecordRefuses(t *testing.T) {
	r := sampleRecord()
	good := string(r.AppendJSON(nil))
	for name, line := range map[string]string{
		"empty":          "",
		"not an object":  "[1]",
		"truncated":      good[:len(good)-5],
		"trailing data":  good + " {}",
		"space":          strings.Replace(good, `"seq":42`, `"seq": 42`, 1),
		"key order":      strings.Replace(good, `{"v":1,"seq":42,`, `{"seq":42,"v":1,`, 1),
		"key case":       strings.Replace(good, `"kind"`, `"Kind"`, 1),
		"unknown key":    strings.Replace(good, `"v":1,`, `"v":1,"x":1,`, 1),
		"duplicate key":  strings.Replace(good, `"v":1,`, `"v":1,"v":1,`, 1),
		"missing key":    strings.Replace(good, `"method":"password",`, ``, 1),
		"version 2":      strings.Replace(good, `"v":1,`, `"v":2,`, 1),
		"seq 0":          strings.Replace(good, `"seq":42`, `"seq":0`, 1),
		"seq negative":   strings.Replace(good, `"seq":42`, `"seq":-1`, 1),
		"empty kind":     strings.Replace(good, `"kind":"auth.failure"`, `"kind":""`, 1),
		"short prev":     strings.Replace(good, r.Prev, r.Prev[:63], 1),
		"upper prev":     strings.Replace(good, r.Prev, strings.ToUpper(r.Prev), 1),
		"local time":     strings.Replace(good, `05.123456789Z`, `05.123456789+00:00`, 1),
		"bad time":       strings.Replace(good, `2026-01-02T`, `2026-13-02T`, 1),
		"other escape":   strings.Replace(good, `"alice"`, `"\u0061lice"`, 1),
		"reason 256":     strings.Replace(good, `"reason":134`, `"reason":256`, 1),
		"raw invalid":    strings.Replace(good, `"alice"`, "\"al\xffice\"", 1),
		"over the limit": `{"v":1,"detail":"` + strings.Repeat("a", MaxLineSize) + `"}`,
	} {
		if _, err := ParseRecord([]byte(line)); err == nil {
			t.Errorf("%s: parsed %q", name, line)
		}
	}
}

// FuzzParseRecord checks that whatever ParseRecord accepts encodes back to
// the same bytes and parses to the same record.
func FuzzParseRecord(f *testing.F) {
	r := sampleRecord()
	f.Add(r.AppendJSON(nil))
	r.Kind, r.Count, r.SuppressedKind, r.Detail = Suppressed, 99999, AuthFailure, "repeated \"x\"\n\u2028"
	f.Add(r.AppendJSON(nil))
	r.Seq, r.Prev, r.Remote = 1, ZeroHash, "[2001:db8::1]:8883"
	f.Add(r.AppendJSON(nil))
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := ParseRecord(line)
		if err != nil {
			return
		}
		again := r.AppendJSON(nil)
		if !bytes.Equal(again, line) {
			t.Fatalf("accepted a non-canonical line:\n%q\n%q", line, again)
		}
		back, err := ParseRecord(again)
		if err != nil || !reflect.DeepEqual(back, r) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, back, r)
		}
	})
}
