package bulk

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func parseAll(t testing.TB, in string, opt Options) ([]Row, Summary, error) {
	t.Helper()
	var rows []Row
	sum, err := Parse(strings.NewReader(in), opt, func(r Row) error {
		rows = append(rows, r)
		return nil
	})
	return rows, sum, err
}

// entraTemplate is Entra's bulk-invite template as downloaded and filled in (Excel, comma).
const entraTemplate = "version:v1.0\r\n" +
	"Email address to invite [inviteeEmail] Required,Redirection url [inviteRedirectURL] Required,Send invitation message (true or false) [sendEmail],Customized invitation message [customizedMessageBody]\r\n" +
	"Example:    test@example.com,Example:    https://myapplications.microsoft.com,Example:    true,Example:    Hello. You are invited to the Contoso organization.\r\n" +
	"ann@fabrikam.example,https://myapplications.microsoft.com,true,Welcome to the project\r\n" +
	"bob@fabrikam.example,https://myapplications.microsoft.com,FALSE,\r\n"

func TestParseFormats(t *testing.T) {
	type want struct {
		n           int
		line        int
		email, name string
		message     string
		redirect    string
		delivery    Delivery
		dupOf       int
		problem     string
	}
	tests := []struct {
		name   string
		in     string
		format string
		delim  rune
		rows   []want
	}{
		{
			name: "entra template as filled in", in: entraTemplate, format: FormatEntra, delim: ',',
			rows: []want{
				{n: 1, line: 4, email: "ann@fabrikam.example", redirect: "https://myapplications.microsoft.com", delivery: DeliveryEmail, message: "Welcome to the project"},
				{n: 2, line: 5, email: "bob@fabrikam.example", redirect: "https://myapplications.microsoft.com", delivery: DeliveryLink},
			},
		},
		{
			name: "entra template without the examples row, saved with trailing separators",
			in: "version:v1.0,,,\n" +
				"Email address to invite [inviteeEmail] Required,Redirection url [inviteRedirectURL] Required,Send invitation message (true or false) [sendEmail],Customized invitation message [customizedMessageBody]\n" +
				"ann@fabrikam.example,https://x.example,true,\n,,,\n",
			format: FormatEntra, delim: ',',
			rows: []want{{n: 1, line: 3, email: "ann@fabrikam.example", redirect: "https://x.example", delivery: DeliveryEmail}},
		},
		{
			name: "semicolons with quoted commas, quotes and line breaks, CRLF",
			in: "Email;Display name;Message\r\n" +
				"ann@fabrikam.example;\"Doe, Ann\";\"Hello, Ann;\r\nsee you \"\"soon\"\"\"\r\n" +
				"bob@fabrikam.example;Bob;\r\n",
			format: FormatPortico, delim: ';',
			rows: []want{
				{n: 1, line: 2, email: "ann@fabrikam.example", name: "Doe, Ann", message: "Hello, Ann;\nsee you \"soon\""},
				{n: 2, line: 4, email: "bob@fabrikam.example", name: "Bob"},
			},
		},
		{
			name:   "BOM, tabs, case-insensitive headers, blank lines",
			in:     "\uFEFFEMAIL\tDISPLAY NAME\tSend email/link\n\n  \nann@fabrikam.example\tAnn\tlink\n\n\n",
			format: FormatPortico, delim: '\t',
			rows: []want{{n: 1, line: 4, email: "ann@fabrikam.example", name: "Ann", delivery: DeliveryLink}},
		},
		{
			name: "duplicates are kept and marked", in: "email\nann@fabrikam.example\nANN@Fabrikam.example \nbob@fabrikam.example\n",
			format: FormatPortico, delim: ',',
			rows: []want{
				{n: 1, line: 2, email: "ann@fabrikam.example"},
				{n: 2, line: 3, email: "ANN@Fabrikam.example", dupOf: 1},
				{n: 3, line: 4, email: "bob@fabrikam.example"},
			},
		},
		{
			name: "pasted list with names", in: "ann@fabrikam.example\r\nBob Stone <bob@fabrikam.example>\n\"Doe, Jane\" <jane@fabrikam.example>\nDoe, Joe <joe@fabrikam.example>\nnot an address\n",
			format: FormatList,
			rows: []want{
				{n: 1, line: 1, email: "ann@fabrikam.example"},
				{n: 2, line: 2, email: "bob@fabrikam.example", name: "Bob Stone"},
				{n: 3, line: 3, email: "jane@fabrikam.example", name: "Doe, Jane"},
				{n: 4, line: 4, email: "joe@fabrikam.example", name: "Doe, Joe"},
				{n: 5, line: 5, email: "not an address", problem: "not an address"},
			},
		},
		{
			name: "row problems: bad send cell, empty email, extra cells", in: "email,send\nann@fabrikam.example,maybe\n,email\nbob@fabrikam.example,email,extra\n",
			format: FormatPortico, delim: ',',
			rows: []want{
				{n: 1, line: 2, email: "ann@fabrikam.example", problem: `says "maybe"`},
				{n: 2, line: 3, problem: "email cell is empty", delivery: DeliveryEmail},
				{n: 3, line: 4, email: "bob@fabrikam.example", delivery: DeliveryEmail, problem: "more cells"},
			},
		},
		{
			name: "Name <address> in the email cell", in: "email,display name\nAnn Lee <ann@fabrikam.example>,\n",
			format: FormatPortico, delim: ',',
			rows: []want{{n: 1, line: 2, email: "ann@fabrikam.example", name: "Ann Lee"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows, sum, err := parseAll(t, tc.in, Options{})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if sum.Format != tc.format || sum.Delimiter != tc.delim {
				t.Errorf("format %q delimiter %q, want %q %q", sum.Format, sum.Delimiter, tc.format, tc.delim)
			}
			if len(rows) != len(tc.rows) || sum.Rows != len(tc.rows) {
				t.Fatalf("%d rows (summary %d), want %d: %+v", len(rows), sum.Rows, len(tc.rows), rows)
			}
			for i, w := range tc.rows {
				r := rows[i]
				if r.N != w.n || r.Line != w.line || r.Email != w.email || r.DisplayName != w.name || r.Message != w.message ||
					r.RedirectURL != w.redirect || r.Delivery != w.delivery || r.DuplicateOf != w.dupOf {
					t.Errorf("row %d = %+v, want %+v", i, r, w)
				}
				if (w.problem == "") != (r.Problem == "") || !strings.Contains(r.Problem, w.problem) {
					t.Errorf("row %d problem %q, want one containing %q", i, r.Problem, w.problem)
				}
			}
		})
	}
}

func TestParseAllColumnsOfPorticoTemplate(t *testing.T) {
	rows, sum, err := parseAll(t, string(PorticoTemplate())+"ann@fabrikam.example,Ann,Hi,cc@contoso.example,https://x.example/,fr-FR,Member,email\n", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Ignored) != 0 {
		t.Errorf("ignored columns %v", sum.Ignored)
	}
	want := Row{N: 1, Line: 2, Email: "ann@fabrikam.example", DisplayName: "Ann", Message: "Hi", CC: "cc@contoso.example",
		RedirectURL: "https://x.example/", Language: "fr-FR", UserType: "Member", Delivery: DeliveryEmail}
	if len(rows) != 1 || rows[0] != want {
		t.Fatalf("rows %+v, want %+v", rows, want)
	}
}

func TestParseFileErrors(t *testing.T) {
	long := "email\n" + strings.Repeat("x", MaxLineBytes+1) + "\n"
	tests := []struct {
		name    string
		in      string
		opt     Options
		line    int
		problem string
	}{
		{"empty", "", Options{}, 0, "empty"},
		{"blank lines only", "\n\r\n  \n", Options{}, 0, "empty"},
		{"xlsx", "PK\x03\x04\x14\x00rest", Options{}, 1, "zip archive"},
		{"pdf", "%PDF-1.7\n", Options{}, 1, "PDF"},
		{"binary in the middle", "email\nann@x.example\n\x00\x01\x02", Options{}, 3, "not a text file"},
		{"NUL after the first 8 KB", "email,message\n" + strings.Repeat("a@x.example,hello\n", 600) + "b@x.example,x\x00y\n", Options{}, 602, "not a text file"},
		{"utf-16", "\xFF\xFEe\x00m\x00", Options{}, 1, "UTF-16"},
		{"latin-1", "email,display name\nann@x.example,Ren\xe9\n", Options{}, 2, "not UTF-8"},
		{"no email column", "name,company\nAnn,Fabrikam\n", Options{}, 1, "no email column"},
		{"headerless csv", "ann@x.example,Ann\n", Options{}, 1, "no email column"},
		{"entra without header", "version:v1.0\n\n", Options{}, 2, "header row is missing"},
		{"two email columns", "email,mail\n", Options{}, 1, "mean the same thing"},
		{"bare quote", "email,message\nann@x.example,say \"hi\"\n", Options{}, 2, "not valid CSV"},
		{"unclosed quote", "email,message\nann@x.example,\"hi\n", Options{}, 2, "not valid CSV"},
		{"too many rows", "email\na@x.example\nb@x.example\nc@x.example\n", Options{MaxRows: 2}, 4, "more than 2 rows"},
		{"too many bytes", "email\n" + strings.Repeat("a@x.example\n", 200000), Options{MaxRows: 1 << 20, MaxBytes: 1 << 20}, 0, "larger than 1 MB"},
		{"line too long", long, Options{}, 2, "longer than 64 KB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			_, err := Parse(strings.NewReader(tc.in), tc.opt, func(Row) error { n++; return nil })
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a *FileError", err)
			}
			if !strings.Contains(fe.Problem, tc.problem) || (tc.line != 0 && fe.Line != tc.line) {
				t.Errorf("error %q (line %d), want line %d and %q", err, fe.Line, tc.line, tc.problem)
			}
		})
	}
}

func TestParseStopsOnCallbackError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	_, err := Parse(strings.NewReader("email\na@x.example\nb@x.example\n"), Options{}, func(Row) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("err %v after %d rows, want stop after 1", err, n)
	}
}

func TestParseTenThousandRows(t *testing.T) {
	rows := 0
	sum, err := Parse(newGenerated(10000), Options{MaxRows: 10000}, func(r Row) error {
		rows++
		if r.Problem != "" || r.DuplicateOf != 0 {
			return fmt.Errorf("row %d: %+v", r.N, r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rows != 10000 || sum.Rows != 10000 || sum.Delimiter != ';' {
		t.Fatalf("rows %d, summary %+v", rows, sum)
	}
}

// generated is a Portico-format file of n rows made while it is read, so the input itself takes
// no memory: what a benchmark measures is the parser's.
type generated struct {
	n, next int
	buf     []byte
}

func newGenerated(n int) *generated {
	return &generated{n: n, buf: []byte("email;display name;message;landing page;send email/link\r\n")}
}

func (g *generated) Read(p []byte) (int, error) {
	for len(g.buf) < len(p) && g.next < g.n {
		g.next++
		g.buf = fmt.Appendf(g.buf, "partner%05d@fabrikam%d.example;\"Partner, %d\";\"Welcome to the project; the kick-off is on Monday, and the agenda is attached. Ask \"\"Ann\"\" for anything you need.\r\nBring your laptop, your badge and the signed agreement to the first meeting.\r\nRegards, the team %d\";https://portal.contoso.example/projects/%d/welcome;%s\r\n",
			g.next, g.next%97, g.next, g.next%13, g.next, []string{"email", "link"}[g.next%2])
	}
	if len(g.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, g.buf)
	g.buf = g.buf[:copy(g.buf, g.buf[n:])]
	return n, nil
}

// BenchmarkParse10000Rows parses a 10,000-row file (about 3 MB) and reports how much the
// process's peak resident memory grew (target: at most 30 MB) and the bytes of input.
func BenchmarkParse10000Rows(b *testing.B) {
	size := int64(0)
	{
		g := newGenerated(10000)
		n, _ := io.Copy(io.Discard, g)
		size = n
	}
	runtime.GC()
	resetPeakRSS()
	before := rssKB("VmRSS")
	for b.Loop() {
		rows := 0
		if _, err := Parse(newGenerated(10000), Options{MaxRows: 10000}, func(Row) error { rows++; return nil }); err != nil || rows != 10000 {
			b.Fatalf("rows %d, err %v", rows, err)
		}
	}
	if peak := rssKB("VmHWM"); peak > 0 && before > 0 {
		b.ReportMetric(float64(peak-before)/1024, "peakRSSgrowthMB")
	}
	b.ReportMetric(float64(size)/(1<<20), "inputMB")
}

// TestParseMemoryBounded is the benchmark's claim as a test: parsing 10,000 rows grows the peak
// resident memory by at most 30 MB.
func TestParseMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	runtime.GC()
	if !resetPeakRSS() {
		t.Skip("cannot reset the peak RSS here (/proc/self/clear_refs)")
	}
	before := rssKB("VmRSS")
	rows := 0
	if _, err := Parse(newGenerated(10000), Options{MaxRows: 10000}, func(Row) error { rows++; return nil }); err != nil {
		t.Fatal(err)
	}
	growth := rssKB("VmHWM") - before
	t.Logf("10,000 rows: peak RSS grew by %.1f MB", float64(growth)/1024)
	if growth > 30*1024 {
		t.Fatalf("peak RSS grew by %d KB, want at most 30 MB", growth)
	}
}

// resetPeakRSS sets VmHWM to the current RSS (Linux: "5" into /proc/self/clear_refs).
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

func rssKB(field string) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{entraTemplate, "email;name\na@x.example;\"b;\nc\"\n", "a@x.example\nB <b@x.example>\n",
		"\uFEFFemail\tsend\na@x.example\tlink\n", "email\n\"unclosed", "PK\x03\x04"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		lastN := 0
		_, err := Parse(strings.NewReader(in), Options{MaxRows: 100, MaxBytes: 1 << 16}, func(r Row) error {
			if r.N != lastN+1 || r.Line < 1 {
				t.Fatalf("row numbering: %+v after %d", r, lastN)
			}
			if r.DuplicateOf >= r.N {
				t.Fatalf("duplicate of a later row: %+v", r)
			}
			if r.Email == "" && r.Problem == "" {
				t.Fatalf("a row without address or problem: %+v", r)
			}
			lastN = r.N
			return nil
		})
		var fe *FileError
		if err != nil && (!errors.As(err, &fe) || fe.Problem == "") {
			t.Fatalf("error that is not a FileError: %v", err)
		}
	})
}
