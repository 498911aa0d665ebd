// Package bulk is Portico's bulk invitation: parsing the uploaded file or pasted list, the dry
// run that gives every row a verdict before anything is sent, and the durable, paced sending of
// the confirmed rows, one row at a time through invite's send pipeline.
package bulk

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits applied when Options leave them zero.
const (
	DefaultMaxRows  = 5000
	DefaultMaxBytes = 10 << 20 // 10 MiB: a 5,000-row file with long messages is about 6 MB
	// MaxLineBytes caps one physical line: no honest row comes near it, and it bounds what one
	// record can make the parser hold.
	MaxLineBytes = 64 << 10
)

// Formats Parse recognises.
const (
	FormatEntra   = "entra"   // Entra's bulk-invite template: version:v1.0, then [propertyName] headers
	FormatPortico = "portico" // a CSV with a header row (Portico's template or any with an email column)
	FormatList    = "list"    // addresses pasted one per line, "Name <address>" accepted
)

// Options bound what Parse accepts.
type Options struct {
	MaxRows  int   // data rows; 0: DefaultMaxRows (PORTICO_BULK_MAX_ROWS)
	MaxBytes int64 // the whole input; 0: DefaultMaxBytes (PORTICO_BULK_MAX_BYTES)
}

// Row is one invitation asked for by the file. Cells are trimmed; empty cells take the defaults
// chosen on the page.
type Row struct {
	N    int // 1-based among the data rows
	Line int // the line of the file where the row starts

	Email       string
	DisplayName string
	Message     string
	CC          string
	RedirectURL string
	Language    string
	UserType    string
	Delivery    Delivery // "" : the page's default

	// Problem is set when the row itself cannot be an invitation (say, a bad "send" cell); the
	// dry run skips it with this reason.
	Problem string
	// DuplicateOf is the N of an earlier row with the same address; the dry run skips this one.
	DuplicateOf int
}

// Delivery is how a row's partner gets the invitation.
type Delivery string

// Deliveries.
const (
	DeliveryDefault Delivery = ""
	DeliveryEmail   Delivery = "email" // Microsoft emails the invitation
	DeliveryLink    Delivery = "link"  // no email: the inviter shares a join link
)

// Summary describes what Parse read.
type Summary struct {
	Format     string
	Delimiter  rune     // 0 for FormatList
	Rows       int      // rows handed to the callback
	Duplicates int      // rows marked DuplicateOf
	Ignored    []string // header cells that name no known column
}

// FileError is a problem with the input as a whole: nothing of it may be used.
type FileError struct {
	Line    int // 0 when no line is to blame
	Problem string
}

func (e *FileError) Error() string {
	if e.Line > 0 {
		return "line " + strconv.Itoa(e.Line) + ": " + e.Problem
	}
	return e.Problem
}

// column is one field of Row a header cell can name.
type column int

const (
	colNone column = iota
	colEmail
	colDisplayName
	colMessage
	colCC
	colRedirect
	colLanguage
	colUserType
	colDelivery
)

// headerNames maps a header cell, lower case with everything but letters and digits removed, to
// its column: Portico's template, Entra's bracketed property names and Graph's property names.
var headerNames = map[string]column{
	"email": colEmail, "emailaddress": colEmail, "mail": colEmail, "address": colEmail,
	"inviteeemail": colEmail, "invitedemail": colEmail,
	"invitedemailaddress": colEmail, "inviteduseremailaddress": colEmail, "emailaddresstoinvite": colEmail,
	"displayname": colDisplayName, "name": colDisplayName, "fullname": colDisplayName,
	"inviteddisplayname": colDisplayName, "inviteduserdisplayname": colDisplayName,
	"message": colMessage, "customizedmessagebody": colMessage, "customizedinvitationmessage": colMessage,
	"invitationmessage": colMessage,
	"cc":                colCC, "ccrecipient": colCC, "ccrecipients": colCC, "ccaddress": colCC,
	"landingpage": colRedirect, "redirecturl": colRedirect, "redirectionurl": colRedirect,
	"inviteredirecturl": colRedirect, "redirect": colRedirect,
	"language": colLanguage, "messagelanguage": colLanguage,
	"usertype": colUserType, "invitedusertype": colUserType,
	"sendemailorlink": colDelivery, "sendemaillink": colDelivery, "send": colDelivery, "delivery": colDelivery,
	"sendemail": colDelivery, "sendinvitationmessage": colDelivery,
	"sendinvitationmessagetrueorfalse": colDelivery,
}

// headerKey is the lookup key of a header cell: Entra's "<Item name> [propertyName] <Required>"
// is matched on the bracketed name alone.
func headerKey(cell string) string {
	if i := strings.IndexByte(cell, '['); i >= 0 {
		if j := strings.IndexByte(cell[i:], ']'); j > 0 {
			cell = cell[i+1 : i+j]
		}
	}
	var b strings.Builder
	for _, r := range strings.ToLower(cell) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Parse reads a bulk file (or pasted list) from r and calls fn with each row, in order, while
// reading: memory stays bounded by the longest line, whatever the file's size. The format, the
// separator (comma, semicolon or tab) and a UTF-8 byte order mark are recognised on their own.
// A problem with the input as a whole is a *FileError naming the line; fn's own error stops
// Parse and is returned as it is. Rows with a problem of their own are handed over with Problem
// set; blank lines and blank rows are skipped.
func Parse(r io.Reader, opt Options, fn func(Row) error) (Summary, error) {
	if opt.MaxRows <= 0 {
		opt.MaxRows = DefaultMaxRows
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = DefaultMaxBytes
	}
	lr := &lineReader{r: r, max: opt.MaxBytes, line: 1}
	br := bufio.NewReaderSize(lr, 64<<10)
	head, _ := br.Peek(8 << 10)
	if err := lr.failure(); err != nil && len(head) == 0 {
		return Summary{}, err
	}
	if err := sniffText(head); err != nil {
		return Summary{}, err
	}
	if bytes.HasPrefix(head, utf8BOM) {
		_, _ = br.Discard(len(utf8BOM))
	}

	p := &parser{opt: opt, fn: fn, lr: lr, seen: map[string]int{}}
	first, firstLine, err := p.firstLine(br)
	if err != nil {
		return p.sum, err
	}
	if first == "" {
		return p.sum, &FileError{Problem: "the file is empty: it has no header row and no addresses"}
	}
	if strings.HasPrefix(strings.ToLower(first), "version:") {
		p.sum.Format = FormatEntra
		return p.sum, p.csv(br, firstLine+1, true)
	}
	if _, ok := listAddress(first); ok {
		p.sum.Format = FormatList
		return p.sum, p.list(br, first, firstLine)
	}
	p.sum.Format = FormatPortico
	return p.sum, p.csvWithHeader(br, first, firstLine)
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// sniffText refuses input that is plainly not text: other encodings, archives (an .xlsx is a
// zip), documents and executables.
func sniffText(head []byte) error {
	magic := []struct {
		prefix string
		what   string
	}{
		{"PK\x03\x04", "a zip archive (an Excel .xlsx workbook is one): save the sheet as \"CSV UTF-8\" and upload that"},
		{"\xD0\xCF\x11\xE0", "an old Excel or Office document: save the sheet as \"CSV UTF-8\" and upload that"},
		{"%PDF", "a PDF document, not a CSV file"},
		{"MZ", "a Windows program, not a CSV file"},
		{"\x7fELF", "a program, not a CSV file"},
		{"\x1f\x8b", "a gzip archive, not a CSV file"},
		{"\x89PNG", "an image, not a CSV file"},
		{"\xFF\xD8\xFF", "an image, not a CSV file"},
		{"\xFF\xFE", "UTF-16 text (Excel's \"Unicode text\"): save it as \"CSV UTF-8\" instead"},
		{"\xFE\xFF", "UTF-16 text: save it as \"CSV UTF-8\" instead"},
	}
	for _, m := range magic {
		if bytes.HasPrefix(head, []byte(m.prefix)) {
			return &FileError{Line: 1, Problem: "this is " + m.what}
		}
	}
	if i := bytes.IndexByte(head, 0); i >= 0 {
		return binaryData(1 + bytes.Count(head[:i], []byte{'\n'}))
	}
	return nil
}

type parser struct {
	opt  Options
	fn   func(Row) error
	lr   *lineReader
	sum  Summary
	seen map[string]int // lower-cased address → N of its first row
}

// firstLine returns the first non-blank line (trimmed, without its line break) and its number,
// leaving br just past it.
func (p *parser) firstLine(br *bufio.Reader) (string, int, error) {
	for line := 1; ; line++ {
		s, err := br.ReadString('\n')
		if ferr := p.lr.failure(); ferr != nil {
			return "", 0, ferr
		}
		if err != nil && err != io.EOF {
			return "", 0, fmt.Errorf("bulk: reading: %w", err)
		}
		t := strings.TrimSpace(s)
		if t != "" && strings.Trim(t, ",;\t") == "" {
			t = "" // a line of separators only is blank
		}
		if t != "" {
			if !utf8.ValidString(t) {
				return "", 0, notUTF8(line)
			}
			return t, line, nil
		}
		if err == io.EOF {
			return "", 0, nil
		}
	}
}

func binaryData(line int) *FileError {
	return &FileError{Line: line, Problem: "this is not a text file (it holds binary data): upload a CSV file saved as \"CSV UTF-8\""}
}

func notUTF8(line int) *FileError {
	return &FileError{Line: line, Problem: "the text is not UTF-8: save the file as \"CSV UTF-8\" (Excel: File › Save As › CSV UTF-8)"}
}

// sniffDelimiter picks the separator that occurs most often outside quotes in the header line:
// spreadsheets in many locales save with ';', and "Unicode text" with tabs.
func sniffDelimiter(header string) rune {
	counts := map[rune]int{}
	quoted := false
	for _, r := range header {
		switch {
		case r == '"':
			quoted = !quoted
		case !quoted && (r == ',' || r == ';' || r == '\t'):
			counts[r]++
		}
	}
	best, n := ',', 0
	for _, d := range []rune{',', ';', '\t'} {
		if counts[d] > n {
			best, n = d, counts[d]
		}
	}
	return best
}

// csvWithHeader reads a CSV whose header row is header (already read, on line headerLine).
func (p *parser) csvWithHeader(br *bufio.Reader, header string, headerLine int) error {
	d := sniffDelimiter(header)
	cols, err := p.columns(header, d, headerLine)
	if err != nil {
		return err
	}
	p.sum.Delimiter = d
	return p.records(newCSV(br, d), cols, headerLine+1, false)
}

// csv reads Entra's template: after the version line, the header row, then data rows.
func (p *parser) csv(br *bufio.Reader, nextLine int, entra bool) error {
	header, hl, err := p.firstLine(br)
	if err != nil {
		return err
	}
	if header == "" {
		return &FileError{Line: nextLine, Problem: "the header row is missing: after \"version:v1.0\" Entra's template has a row naming the columns, such as \"Email address to invite [inviteeEmail] Required\""}
	}
	hl += nextLine - 1
	d := sniffDelimiter(header)
	cols, err := p.columns(header, d, hl)
	if err != nil {
		return err
	}
	p.sum.Delimiter = d
	return p.records(newCSV(br, d), cols, hl+1, entra)
}

func newCSV(r io.Reader, d rune) *csv.Reader {
	cr := csv.NewReader(r)
	cr.Comma = d
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	return cr
}

// columns maps the header cells to Row's fields.
func (p *parser) columns(header string, d rune, line int) ([]column, error) {
	cr := newCSV(strings.NewReader(header), d)
	cells, err := cr.Read()
	if err != nil {
		return nil, &FileError{Line: line, Problem: "the header row cannot be read as CSV: " + csvProblem(err)}
	}
	cols := make([]column, len(cells))
	seen := map[column]string{}
	for i, c := range cells {
		c = strings.TrimSpace(strings.TrimPrefix(c, "\uFEFF"))
		col := headerNames[headerKey(c)]
		if col == colNone {
			if c != "" {
				p.sum.Ignored = append(p.sum.Ignored, c)
			}
			continue
		}
		if prev, dup := seen[col]; dup {
			return nil, &FileError{Line: line, Problem: fmt.Sprintf("the columns %q and %q mean the same thing: keep one", prev, c)}
		}
		seen[col] = c
		cols[i] = col
	}
	if _, ok := seen[colEmail]; !ok {
		return nil, &FileError{Line: line, Problem: "no email column: the first row must name the columns, one of them \"email\" (or Entra's \"Email address to invite [inviteeEmail]\"); download the template to see the layout"}
	}
	return cols, nil
}

// records reads the data rows.
func (p *parser) records(cr *csv.Reader, cols []column, firstLine int, entra bool) error {
	for {
		cells, err := cr.Read()
		if ferr := p.lr.failure(); ferr != nil {
			return ferr
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return &FileError{Line: pe.StartLine + firstLine - 1, Problem: "this is not valid CSV: " + csvProblem(err)}
			}
			return fmt.Errorf("bulk: reading: %w", err)
		}
		line, _ := cr.FieldPos(0)
		line += firstLine - 1
		var row Row
		blank := true
		for i, c := range cells {
			if i >= len(cols) {
				if strings.TrimSpace(c) != "" {
					row.Problem = "the row has more cells than the header row has columns"
					blank = false
				}
				continue
			}
			if !utf8.ValidString(c) {
				return notUTF8(line)
			}
			if strings.IndexByte(c, 0) >= 0 {
				return binaryData(line)
			}
			c = strings.TrimSpace(c)
			if c != "" {
				blank = false
			}
			switch cols[i] {
			case colEmail:
				row.Email = c
			case colDisplayName:
				row.DisplayName = c
			case colMessage:
				row.Message = c
			case colCC:
				row.CC = c
			case colRedirect:
				row.RedirectURL = c
			case colLanguage:
				row.Language = c
			case colUserType:
				row.UserType = c
			case colDelivery:
				dl, ok := parseDelivery(c)
				if !ok {
					row.Problem = fmt.Sprintf("the send column says %q: use email or link (or true or false)", c)
				}
				row.Delivery = dl
			}
		}
		if blank {
			continue
		}
		if entra && p.sum.Rows == 0 && isExampleRow(row) {
			continue // Entra's template ships a row of examples that people forget to remove
		}
		if err := p.emit(row, line); err != nil {
			return err
		}
	}
}

// isExampleRow reports Entra's examples row ("Example: ..." cells).
func isExampleRow(r Row) bool {
	return strings.HasPrefix(strings.ToLower(r.Email), "example")
}

// list reads addresses one per line; first (on line firstLine) has been read already.
func (p *parser) list(br *bufio.Reader, first string, firstLine int) error {
	if err := p.listLine(first, firstLine); err != nil {
		return err
	}
	line := firstLine
	for {
		s, err := br.ReadString('\n')
		if ferr := p.lr.failure(); ferr != nil {
			return ferr
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("bulk: reading: %w", err)
		}
		if s != "" {
			line++
			t := strings.TrimSpace(s)
			if !utf8.ValidString(t) {
				return notUTF8(line)
			}
			if strings.IndexByte(t, 0) >= 0 {
				return binaryData(line)
			}
			if t != "" {
				if err := p.listLine(t, line); err != nil {
					return err
				}
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

func (p *parser) listLine(s string, line int) error {
	s = strings.TrimRight(s, ",;")
	row := Row{Email: s}
	if a, ok := listAddress(s); ok {
		row.Email, row.DisplayName = a.Address, a.Name
	} else {
		row.Problem = "this line is not an address (write one address per line, or Name <address>)"
	}
	return p.emit(row, line)
}

// listAddress reads one pasted line as an address: "a@b.example", "Name <a@b.example>" or
// "\"Last, First\" <a@b.example>".
func listAddress(s string) (*mail.Address, bool) {
	s = strings.TrimRight(strings.TrimSpace(s), ",;")
	if !strings.Contains(s, "@") {
		return nil, false
	}
	if a, err := mail.ParseAddress(s); err == nil {
		return a, true
	}
	// "Doe, Jane <jane@example.com>" as Outlook pastes it: the name is not quoted.
	i, j := strings.LastIndexByte(s, '<'), strings.LastIndexByte(s, '>')
	if i < 0 || j != len(s)-1 || j < i {
		return nil, false
	}
	a, err := mail.ParseAddress(s[i:])
	if err != nil {
		return nil, false
	}
	a.Name = strings.Trim(strings.TrimSpace(s[:i]), "\"'")
	return a, true
}

// emit numbers the row, marks a repeated address and hands the row over.
func (p *parser) emit(row Row, line int) error {
	if p.sum.Rows >= p.opt.MaxRows {
		return &FileError{Line: line, Problem: fmt.Sprintf("the file has more than %d rows, the most one bulk invitation takes (PORTICO_BULK_MAX_ROWS): split it", p.opt.MaxRows)}
	}
	p.sum.Rows++
	row.N, row.Line = p.sum.Rows, line
	if strings.ContainsRune(row.Email, '<') {
		// "Name <address>" in the email cell: forgiving, as for a pasted list.
		if a, ok := listAddress(row.Email); ok {
			row.Email = a.Address
			if row.DisplayName == "" {
				row.DisplayName = a.Name
			}
		}
	}
	key := strings.ToLower(row.Email)
	if key == "" {
		if row.Problem == "" {
			row.Problem = "the email cell is empty"
		}
		return p.fn(row)
	}
	if first, dup := p.seen[key]; dup {
		row.DuplicateOf = first
		p.sum.Duplicates++
	} else {
		p.seen[key] = row.N
	}
	return p.fn(row)
}

// MarkDuplicates numbers rows read elsewhere (1, 2, …) and marks a repeated address, as Parse does.
func MarkDuplicates(rows []Row) []Row {
	seen := map[string]int{}
	for i := range rows {
		r := &rows[i]
		r.N = i + 1
		if r.Line == 0 {
			r.Line = r.N
		}
		key := strings.ToLower(strings.TrimSpace(r.Email))
		if key == "" {
			if r.Problem == "" {
				r.Problem = "the email address is empty"
			}
			continue
		}
		if first, dup := seen[key]; dup {
			r.DuplicateOf = first
		} else {
			seen[key] = r.N
		}
	}
	return rows
}

func parseDelivery(s string) (Delivery, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return DeliveryDefault, true
	case "email", "e-mail", "mail", "true", "yes", "y", "1":
		return DeliveryEmail, true
	case "link", "join link", "false", "no", "n", "0":
		return DeliveryLink, true
	}
	return DeliveryDefault, false
}

func csvProblem(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		switch {
		case errors.Is(pe.Err, csv.ErrBareQuote):
			return "a quote (\") appears inside a cell that does not start with one; put the whole cell in quotes and double the quotes inside it"
		case errors.Is(pe.Err, csv.ErrQuote):
			return "a quoted cell is not closed, or a closing quote is followed by other text"
		}
		return pe.Err.Error()
	}
	return err.Error()
}

// lineReader enforces the byte limit and the line-length limit while reading, and remembers the
// first violation (the CSV reader would otherwise report it as an I/O error without a line).
type lineReader struct {
	r       io.Reader
	max     int64
	n       int64
	line    int
	lineLen int
	err     *FileError
}

var errLimit = errors.New("bulk: input limit")

func (l *lineReader) Read(b []byte) (int, error) {
	if l.err != nil {
		return 0, errLimit
	}
	n, err := l.r.Read(b)
	for i := range n {
		if b[i] == '\n' {
			l.line++
			l.lineLen = 0
			continue
		}
		l.lineLen++
		if l.lineLen > MaxLineBytes {
			l.err = &FileError{Line: l.line, Problem: fmt.Sprintf("this line is longer than %d KB: is this really a CSV file?", MaxLineBytes>>10)}
			return 0, errLimit
		}
	}
	l.n += int64(n)
	if l.n > l.max {
		l.err = &FileError{Line: l.line, Problem: "the file is larger than " + SizeText(l.max) + ", the most one bulk invitation takes (PORTICO_BULK_MAX_BYTES): split it"}
		return 0, errLimit
	}
	return n, err
}

// SizeText writes a byte count for people: "10 MB", "64 KB".
func SizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MB"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MB"
	case n >= 1<<10:
		return strconv.FormatInt(n>>10, 10) + " KB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// failure is the limit the input broke, if any.
func (l *lineReader) failure() error {
	if l.err != nil {
		return l.err
	}
	return nil
}
