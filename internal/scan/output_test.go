package scan

import (
	"bytes"
	"strings"
	"testing"

	"github.com/moatmq/moat/internal/doctor"
)

// TestWriteTable: a fixed report renders as this exact table: columns
// aligned, titles from the catalog, long and hostile evidence cut and
// sanitized, notes and the summary after it.
func TestWriteTable(t *testing.T) {
	fs := []doctor.Finding{
		doctor.New(doctor.IDAnonymousExposed, doctor.Finding{Target: "10.0.0.5:1883",
			Message: "the broker accepted a CONNECT without credentials with MQTT 5.0 and 3.1.1"}),
		doctor.New(doctor.IDScanRetained, doctor.Finding{Target: "10.0.0.5:1883",
			Message: "an anonymous client read retained messages through \"#\" (payloads not shown): 3 message(s)\x1b[31m, 3 retained"}),
		doctor.Complete(doctor.IDPlainText, doctor.SeverityLow, doctor.Finding{Target: "127.0.0.1:1883",
			Message: "the broker speaks MQTT over TCP, plain text\n(on loopback)"}),
	}
	rep := &doctor.Report{Tool: "moat scan", Subject: "10.0.0.5:1883 127.0.0.1:1883", Findings: fs,
		Summary: doctor.Summarize(fs), Notes: []string{"10.0.0.5:1883: will probe: refused at CONNECT"}}
	var b bytes.Buffer
	if err := WriteTable(&b, rep); err != nil {
		t.Fatal(err)
	}
	want := `moat scan: 10.0.0.5:1883 127.0.0.1:1883

ID             SEVERITY  TARGET          TITLE                                        EVIDENCE
MOAT-AUTH-001  critical  10.0.0.5:1883   Anonymous access on a non-loopback listener  the broker accepted a CONNECT without credentials with MQTT 5.0 and 3.1....
MOAT-SCAN-002  high      10.0.0.5:1883   Retained data readable through #             an anonymous client read retained messages through "#" (payloads not sho...
MOAT-NET-001   low       127.0.0.1:1883  Plain-text MQTT on a non-loopback address    the broker speaks MQTT over TCP, plain text (on loopback)

note: 10.0.0.5:1883: will probe: refused at CONNECT

summary: 1 critical, 1 high, 0 medium, 1 low, 0 info
why and fix of each finding: --details, --json or --format sarif; every check: docs/scanning.md
`
	if got := b.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}

	b.Reset()
	if err := WriteTable(&b, &doctor.Report{Tool: "moat scan", Subject: "x:1"}); err != nil {
		t.Fatal(err)
	}
	if want := "moat scan: x:1\n\nno findings\n\nsummary: 0 critical, 0 high, 0 medium, 0 low, 0 info\n"; b.String() != want {
		t.Errorf("empty report:\n%q\nwant\n%q", b.String(), want)
	}
}

// TestProgressLine: on a terminal each step rewrites one line (cut to fit
// 79 columns) and Clear erases it; elsewhere each step is a line of its
// own and Clear writes nothing.
func TestProgressLine(t *testing.T) {
	steps := []Step{
		{Target: "127.0.0.1:1883", Name: stepDetect},
		{Target: "127.0.0.1:1883", Name: stepTLSVersions, N: 7, Total: 23},
		{Target: "broker-with-a-rather-long-name.plant.example.internal:8883\x1b]0;x", Name: stepBruteForce, N: 23, Total: 23},
	}
	var b bytes.Buffer
	p := NewProgressLine(&b, true)
	for _, st := range steps {
		p.Show(st)
	}
	p.Clear()
	p.Clear() // nothing left to erase
	want := "\r\x1b[Kscanning 127.0.0.1:1883: detecting the transport" +
		"\r\x1b[Kscanning 127.0.0.1:1883: tls versions (7/23)" +
		"\r\x1b[Kscanning broker-with-a-rather-long-name.plant.example.internal:8883?]...: br..." +
		"\r\x1b[K"
	if b.String() != want {
		t.Errorf("terminal:\n%q\nwant\n%q", b.String(), want)
	}
	b.Reset()
	p = NewProgressLine(&b, false)
	for _, st := range steps[:2] {
		p.Show(st)
	}
	p.Clear()
	want = "scanning 127.0.0.1:1883: detecting the transport\nscanning 127.0.0.1:1883: tls versions (7/23)\n"
	if b.String() != want {
		t.Errorf("not a terminal:\n%q\nwant\n%q", b.String(), want)
	}
	if s := steps[1].String(); !strings.HasSuffix(s, "(7/23)") {
		t.Errorf("Step.String() = %q", s)
	}
}
