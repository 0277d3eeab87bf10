package doctor

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"unicode"
)

// Report is what moat doctor and moat scan print: the findings of one run
// and what was audited.
type Report struct {
	// Tool is "moat doctor" or "moat scan".
	Tool    string `json:"tool"`
	Version string `json:"version,omitempty"`
	// Subject names what was audited: the configuration file, or the
	// scanned targets.
	Subject  string    `json:"subject"`
	Findings []Finding `json:"findings"`
	Summary  Summary   `json:"summary"`
	// Notes are remarks about the run itself (what was skipped, what the
	// audit could not see); never findings.
	Notes []string `json:"notes,omitempty"`
}

// Summary counts findings per severity.
type Summary struct {
	Critical int `json:"critical"`
	High     int `json:"high"`
	Medium   int `json:"medium"`
	Low      int `json:"low"`
	Info     int `json:"info"`
}

// Summarize counts fs per severity.
func Summarize(fs []Finding) Summary {
	var s Summary
	for _, f := range fs {
		switch f.Severity {
		case SeverityCritical:
			s.Critical++
		case SeverityHigh:
			s.High++
		case SeverityMedium:
			s.Medium++
		case SeverityLow:
			s.Low++
		default:
			s.Info++
		}
	}
	return s
}

func (s Summary) String() string {
	return fmt.Sprintf("%d critical, %d high, %d medium, %d low, %d info", s.Critical, s.High, s.Medium, s.Low, s.Info)
}

// WriteText writes r for a terminal: findings grouped by severity, most
// severe first, each with its ID, location, message, why and fix, then the
// summary. Text that came from outside (a scanned broker) is sanitized.
func WriteText(w io.Writer, r *Report) error {
	ew := &errWriter{w: w}
	ew.printf("%s: %s\n", r.Tool, Sanitize(r.Subject, 500))
	for _, n := range r.Notes {
		ew.printf("note: %s\n", Sanitize(n, 500))
	}
	for sev := SeverityCritical; sev >= SeverityInfo; sev-- {
		var group []Finding
		for _, f := range r.Findings {
			if f.Severity == sev {
				group = append(group, f)
			}
		}
		if len(group) == 0 {
			continue
		}
		ew.printf("\n%s (%d)\n", strings.ToUpper(sev.String()), len(group))
		for _, f := range group {
			ew.printf("  %s  %s\n", f.ID, Sanitize(f.Location(), 300))
			ew.printf("    %s\n", Sanitize(f.Message, 2000))
			ew.printf("    why: %s\n", f.Why)
			ew.printf("    fix: %s\n", f.Fix)
			if f.Acknowledged {
				ew.printf("    acknowledged by %s\n", f.AckBy)
			}
		}
	}
	if len(r.Findings) == 0 {
		ew.printf("\nno findings\n")
	}
	ew.printf("\nsummary: %s\n", r.Summary)
	return ew.err
}

// WriteJSON writes r as one indented JSON document.
func WriteJSON(w io.Writer, r *Report) error {
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// SARIF 2.1.0, the subset code-scanning dashboards read.
type (
	sarifLog struct {
		Schema  string     `json:"$schema"`
		Version string     `json:"version"`
		Runs    []sarifRun `json:"runs"`
	}
	sarifRun struct {
		Tool    sarifTool     `json:"tool"`
		Results []sarifResult `json:"results"`
	}
	sarifTool struct {
		Driver sarifDriver `json:"driver"`
	}
	sarifDriver struct {
		Name           string      `json:"name"`
		Version        string      `json:"version,omitempty"`
		InformationURI string      `json:"informationUri"`
		Rules          []sarifRule `json:"rules"`
	}
	sarifRule struct {
		ID               string         `json:"id"`
		Name             string         `json:"name"`
		ShortDescription sarifText      `json:"shortDescription"`
		FullDescription  sarifText      `json:"fullDescription"`
		Help             sarifText      `json:"help"`
		Default          sarifDefault   `json:"defaultConfiguration"`
		Properties       map[string]any `json:"properties"`
	}
	sarifDefault struct {
		Level string `json:"level"`
	}
	sarifText struct {
		Text string `json:"text"`
	}
	sarifResult struct {
		RuleID              string            `json:"ruleId"`
		RuleIndex           int               `json:"ruleIndex"`
		Level               string            `json:"level"`
		Message             sarifText         `json:"message"`
		Locations           []sarifLocation   `json:"locations,omitempty"`
		PartialFingerprints map[string]string `json:"partialFingerprints"`
		Properties          map[string]any    `json:"properties"`
	}
	sarifLocation struct {
		Physical *sarifPhysical `json:"physicalLocation,omitempty"`
		Logical  []sarifLogical `json:"logicalLocations,omitempty"`
	}
	sarifPhysical struct {
		Artifact sarifArtifact `json:"artifactLocation"`
	}
	sarifArtifact struct {
		URI string `json:"uri"`
	}
	sarifLogical struct {
		FullyQualifiedName string `json:"fullyQualifiedName"`
		Kind               string `json:"kind,omitempty"`
	}
)

// InformationURI is where the finding IDs of moat doctor are documented,
// and ScanInformationURI those of moat scan.
const (
	InformationURI     = "https://github.com/moatmq/moat/blob/main/docs/doctor.md"
	ScanInformationURI = "https://github.com/moatmq/moat/blob/main/docs/scanning.md"
)

// informationURI is the document a report's SARIF rules point to.
func informationURI(tool string) string {
	if tool == "moat scan" {
		return ScanInformationURI
	}
	return InformationURI
}

// sarifLevel maps a severity to a SARIF level.
func sarifLevel(s Severity) string {
	switch {
	case s >= SeverityHigh:
		return "error"
	case s == SeverityMedium:
		return "warning"
	}
	return "note"
}

// securitySeverity is the CVSS-like score code-scanning dashboards sort
// by: 9+ critical, 7+ high, 4+ medium, above 0 low.
func securitySeverity(s Severity) string {
	return [...]string{"0.0", "3.0", "5.5", "8.0", "9.5"}[s]
}

// WriteSARIF writes r as a SARIF 2.1.0 log. artifact, when not empty, is
// the file a finding without a file of its own is located in (the
// configuration file for moat doctor).
func WriteSARIF(w io.Writer, r *Report, artifact string) error {
	var rules []sarifRule
	docURI := informationURI(r.Tool)
	index := map[string]int{}
	for _, f := range r.Findings {
		if _, ok := index[f.ID]; ok {
			continue
		}
		index[f.ID] = -1
	}
	for _, rule := range Catalog {
		if _, ok := index[rule.ID]; !ok {
			continue
		}
		index[rule.ID] = len(rules)
		rules = append(rules, sarifRule{
			ID: rule.ID, Name: ruleName(rule.Title),
			ShortDescription: sarifText{rule.Title},
			FullDescription:  sarifText{rule.Why},
			Help:             sarifText{"Fix: " + rule.Fix + " See " + docURI + "#" + strings.ToLower(rule.ID)},
			Default:          sarifDefault{sarifLevel(rule.Severity)},
			Properties: map[string]any{"security-severity": securitySeverity(rule.Severity),
				"tags": []string{"security", strings.ToLower(strings.Split(rule.ID, "-")[1])}},
		})
	}
	results := make([]sarifResult, 0, len(r.Findings))
	for _, f := range r.Findings {
		res := sarifResult{
			RuleID: f.ID, RuleIndex: index[f.ID], Level: sarifLevel(f.Severity),
			Message:             sarifText{Sanitize(f.Message, 2000) + " Fix: " + f.Fix},
			PartialFingerprints: map[string]string{"moatFinding/v1": fingerprint(f)},
			Properties:          map[string]any{"severity": f.Severity.String(), "security-severity": securitySeverity(f.Severity)},
		}
		if f.Acknowledged {
			res.Properties["acknowledged_by"] = f.AckBy
		}
		var loc sarifLocation
		if file := cmpOr(f.File, artifact); file != "" {
			loc.Physical = &sarifPhysical{sarifArtifact{URI: fileURI(file)}}
		}
		if f.Path != "" {
			loc.Logical = append(loc.Logical, sarifLogical{FullyQualifiedName: f.Path, Kind: "member"})
		}
		if f.Target != "" {
			loc.Logical = append(loc.Logical, sarifLogical{FullyQualifiedName: Sanitize(f.Target, 300), Kind: "resource"})
		}
		if loc.Physical != nil || loc.Logical != nil {
			res.Locations = []sarifLocation{loc}
		}
		results = append(results, res)
	}
	if rules == nil {
		rules = []sarifRule{}
	}
	log := sarifLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs: []sarifRun{{
			Tool:    sarifTool{sarifDriver{Name: r.Tool, Version: r.Version, InformationURI: docURI, Rules: rules}},
			Results: results,
		}},
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
}

// ruleName turns a title into the PascalCase name SARIF rules carry.
func ruleName(title string) string {
	var b strings.Builder
	for _, word := range strings.FieldsFunc(title, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		b.WriteString(strings.ToUpper(word[:1]) + word[1:])
	}
	return b.String()
}

// fingerprint identifies a finding across runs: its ID and location.
func fingerprint(f Finding) string {
	sum := sha256.Sum256([]byte(f.ID + "\x00" + f.Target + "\x00" + f.Path + "\x00" + f.File))
	return hex.EncodeToString(sum[:16])
}

// fileURI writes a path as a SARIF artifact URI: relative paths as they
// are (with forward slashes), absolute ones as file:// URIs.
func fileURI(p string) string {
	p = filepath.ToSlash(p)
	if strings.HasPrefix(p, "/") {
		return "file://" + p
	}
	return p
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Sanitize makes text safe for a terminal and bounded: control
// characters (escape sequences included) become '?', and text longer than
// max runes is cut with "...".
func Sanitize(s string, max int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == max {
			b.WriteString("...")
			break
		}
		if unicode.IsControl(r) || r == unicode.ReplacementChar || (unicode.Is(unicode.Cf, r)) {
			r = '?'
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
