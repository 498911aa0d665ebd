package devtenant

import (
	"fmt"
	"slices"
	"strings"
)

// This file is a small but real OData $filter parser: it builds a syntax tree for the general
// grammar (or/and/not, comparisons, lambdas, function calls), binds property names against
// microsoft.graph.user, and only then decides whether devtenant supports the shape. So a filter
// that names a property the user type lacks gets Graph's "Could not find a property" error,
// while a valid but unmodelled filter gets "Unsupported Query.", as Graph answers them.

type tokKind int

const (
	tkEOF tokKind = iota
	tkIdent
	tkString
	tkOther // numbers, dates, GUIDs: literals devtenant does not compare on
	tkLParen
	tkRParen
	tkColon
	tkSlash
	tkComma
)

type token struct {
	kind tokKind
	text string
	pos  int
}

// filterError is a 400 with Graph's code and message.
type filterError struct {
	code string
	msg  string
}

func (e *filterError) Error() string { return e.code + ": " + e.msg }

func syntaxError(filter, format string, args ...any) *filterError {
	return &filterError{code: "BadRequest", msg: "Invalid filter clause: " + fmt.Sprintf(format, args...) + " in '" + filter + "'."}
}

func lexFilter(s string) ([]token, error) {
	var out []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '(':
			out = append(out, token{tkLParen, "(", i})
			i++
		case c == ')':
			out = append(out, token{tkRParen, ")", i})
			i++
		case c == ':':
			out = append(out, token{tkColon, ":", i})
			i++
		case c == '/':
			out = append(out, token{tkSlash, "/", i})
			i++
		case c == ',':
			out = append(out, token{tkComma, ",", i})
			i++
		case c == '\'':
			start := i
			var b strings.Builder
			i++
			closed := false
			for i < len(s) {
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						b.WriteByte('\'') // '' is an escaped quote inside a literal
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				b.WriteByte(s[i])
				i++
			}
			if !closed {
				return nil, syntaxError(s, "There is an unterminated string literal at position %d", start)
			}
			out = append(out, token{tkString, b.String(), start})
		case isIdentStart(c):
			start := i
			for i < len(s) && (isIdentStart(s[i]) || s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
				i++
			}
			out = append(out, token{tkIdent, s[start:i], start})
		case c >= '0' && c <= '9' || c == '-':
			start := i
			for i < len(s) && strings.IndexByte("0123456789abcdefABCDEF.:+-TZ", s[i]) >= 0 {
				i++
			}
			out = append(out, token{tkOther, s[start:i], start})
		default:
			return nil, syntaxError(s, "Syntax error: character '%c' is not valid at position %d", c, i)
		}
	}
	return append(out, token{tkEOF, "", len(s)}), nil
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '$' || c == '@'
}

type node interface{ isNode() }

type orNode struct{ terms []node }
type andNode struct{ terms []node }
type notNode struct{ inner node }

// cmpNode is "path op literal" (or a literal on the left, which devtenant does not support).
type cmpNode struct {
	path    []string
	op      string
	lit     string
	litKind tokKind
	leftLit bool
}

// anyNode is "collection/any(v: body)" or "/all(...)".
type anyNode struct {
	path []string
	fn   string
	v    string
	body node
}

type callNode struct {
	name string
	args []node
}

// operandNode is a path or literal used as a function argument.
type operandNode struct {
	path []string
	lit  string
	kind tokKind
}

func (orNode) isNode()      {}
func (andNode) isNode()     {}
func (notNode) isNode()     {}
func (cmpNode) isNode()     {}
func (anyNode) isNode()     {}
func (callNode) isNode()    {}
func (operandNode) isNode() {}

type filterParser struct {
	src  string
	toks []token
	i    int
}

func parseFilter(s string) (node, error) {
	toks, err := lexFilter(s)
	if err != nil {
		return nil, err
	}
	p := &filterParser{src: s, toks: toks}
	if p.peek().kind == tkEOF {
		return nil, syntaxError(s, "The filter is empty")
	}
	n, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tkEOF {
		return nil, syntaxError(s, "Syntax error at position %d", t.pos)
	}
	return n, nil
}

func (p *filterParser) peek() token { return p.toks[p.i] }
func (p *filterParser) next() token {
	t := p.toks[p.i]
	if t.kind != tkEOF {
		p.i++
	}
	return t
}

func (p *filterParser) keyword(k string) bool {
	t := p.peek()
	return t.kind == tkIdent && strings.EqualFold(t.text, k)
}

func (p *filterParser) parseOr() (node, error) {
	first, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	terms := []node{first}
	for p.keyword("or") {
		p.next()
		n, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		terms = append(terms, n)
	}
	if len(terms) == 1 {
		return first, nil
	}
	return orNode{terms}, nil
}

func (p *filterParser) parseAnd() (node, error) {
	first, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	terms := []node{first}
	for p.keyword("and") {
		p.next()
		n, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		terms = append(terms, n)
	}
	if len(terms) == 1 {
		return first, nil
	}
	return andNode{terms}, nil
}

func (p *filterParser) parseUnary() (node, error) {
	if p.keyword("not") {
		p.next()
		n, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return notNode{n}, nil
	}
	return p.parsePrimary()
}

var comparisonOps = []string{"eq", "ne", "gt", "ge", "lt", "le", "in", "has"}

func (p *filterParser) parsePrimary() (node, error) {
	t := p.peek()
	switch t.kind {
	case tkLParen:
		p.next()
		n, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if p.next().kind != tkRParen {
			return nil, syntaxError(p.src, "')' expected at position %d", p.toks[p.i].pos)
		}
		return n, nil
	case tkString, tkOther:
		p.next()
		op, err := p.operator()
		if err != nil {
			return nil, err
		}
		rhs, err := p.operand()
		if err != nil {
			return nil, err
		}
		return cmpNode{path: rhs.path, op: op, lit: t.text, litKind: t.kind, leftLit: true}, nil
	case tkIdent:
		p.next()
		if p.peek().kind == tkLParen {
			return p.call(t.text)
		}
		path := []string{t.text}
		for p.peek().kind == tkSlash {
			p.next()
			seg := p.next()
			if seg.kind != tkIdent {
				return nil, syntaxError(p.src, "Syntax error at position %d", seg.pos)
			}
			if (strings.EqualFold(seg.text, "any") || strings.EqualFold(seg.text, "all")) && p.peek().kind == tkLParen {
				return p.lambda(path, strings.ToLower(seg.text))
			}
			path = append(path, seg.text)
		}
		op, err := p.operator()
		if err != nil {
			return nil, err
		}
		rhs, err := p.operand()
		if err != nil {
			return nil, err
		}
		if rhs.path != nil {
			return cmpNode{path: path, op: op, litKind: tkIdent, lit: strings.Join(rhs.path, "/")}, nil
		}
		return cmpNode{path: path, op: op, lit: rhs.lit, litKind: rhs.kind}, nil
	}
	return nil, syntaxError(p.src, "Syntax error at position %d", t.pos)
}

func (p *filterParser) operator() (string, error) {
	t := p.next()
	if t.kind == tkIdent {
		if i := slices.IndexFunc(comparisonOps, func(o string) bool { return strings.EqualFold(o, t.text) }); i >= 0 {
			return comparisonOps[i], nil
		}
	}
	return "", syntaxError(p.src, "Syntax error: a comparison operator is expected at position %d", t.pos)
}

// operand reads a literal, a path, or a parenthesised list (for "in"), which is kept as other.
func (p *filterParser) operand() (operandNode, error) {
	t := p.next()
	switch t.kind {
	case tkString, tkOther:
		return operandNode{lit: t.text, kind: t.kind}, nil
	case tkIdent:
		path := []string{t.text}
		for p.peek().kind == tkSlash {
			p.next()
			seg := p.next()
			if seg.kind != tkIdent {
				return operandNode{}, syntaxError(p.src, "Syntax error at position %d", seg.pos)
			}
			path = append(path, seg.text)
		}
		if len(path) == 1 && slices.Contains([]string{"null", "true", "false"}, strings.ToLower(t.text)) {
			return operandNode{lit: t.text, kind: tkOther}, nil
		}
		return operandNode{path: path}, nil
	case tkLParen:
		depth := 1
		for depth > 0 {
			switch p.next().kind {
			case tkLParen:
				depth++
			case tkRParen:
				depth--
			case tkEOF:
				return operandNode{}, syntaxError(p.src, "')' expected at position %d", len(p.src))
			}
		}
		return operandNode{lit: "(list)", kind: tkOther}, nil
	}
	return operandNode{}, syntaxError(p.src, "Syntax error: an operand is expected at position %d", t.pos)
}

func (p *filterParser) lambda(path []string, fn string) (node, error) {
	p.next() // (
	if p.peek().kind == tkRParen {
		p.next()
		return anyNode{path: path, fn: fn}, nil
	}
	v := p.next()
	if v.kind != tkIdent || p.next().kind != tkColon {
		return nil, syntaxError(p.src, "A lambda variable followed by ':' is expected at position %d", v.pos)
	}
	body, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.next().kind != tkRParen {
		return nil, syntaxError(p.src, "')' expected at position %d", p.toks[p.i].pos)
	}
	return anyNode{path: path, fn: fn, v: v.text, body: body}, nil
}

func (p *filterParser) call(name string) (node, error) {
	p.next() // (
	var args []node
	for p.peek().kind != tkRParen {
		a, err := p.operand()
		if err != nil {
			return nil, err
		}
		args = append(args, a)
		if p.peek().kind == tkComma {
			p.next()
			continue
		}
		if p.peek().kind != tkRParen {
			return nil, syntaxError(p.src, "',' or ')' expected at position %d", p.peek().pos)
		}
	}
	p.next()
	return callNode{name: name, args: args}, nil
}

// userProperties are microsoft.graph.user's structural properties in v1.0 (Graph's metadata).
var userProperties = []string{
	"id", "deletedDateTime", "aboutMe", "accountEnabled", "ageGroup", "assignedLicenses", "assignedPlans",
	"authorizationInfo", "birthday", "businessPhones", "city", "companyName", "consentProvidedForMinor", "country",
	"createdDateTime", "creationType", "customSecurityAttributes", "department", "displayName", "employeeHireDate",
	"employeeId", "employeeLeaveDateTime", "employeeOrgData", "employeeType", "externalUserState",
	"externalUserStateChangeDateTime", "faxNumber", "givenName", "hireDate", "identities", "imAddresses", "interests",
	"isManagementRestricted", "isResourceAccount", "jobTitle", "lastPasswordChangeDateTime",
	"legalAgeGroupClassification", "licenseAssignmentStates", "mail", "mailboxSettings", "mailNickname", "mobilePhone",
	"mySite", "officeLocation", "onPremisesDistinguishedName", "onPremisesDomainName", "onPremisesExtensionAttributes",
	"onPremisesImmutableId", "onPremisesLastSyncDateTime", "onPremisesProvisioningErrors", "onPremisesSamAccountName",
	"onPremisesSecurityIdentifier", "onPremisesSyncEnabled", "onPremisesUserPrincipalName", "otherMails",
	"passwordPolicies", "passwordProfile", "pastProjects", "postalCode", "preferredDataLocation", "preferredLanguage",
	"preferredName", "print", "provisionedPlans", "proxyAddresses", "responsibilities", "schools", "securityIdentifier",
	"serviceProvisioningErrors", "showInAddressList", "signInActivity", "signInSessionsValidFromDateTime", "skills",
	"state", "streetAddress", "surname", "usageLocation", "userPrincipalName", "userType",
}

// objectIdentityProperties are microsoft.graph.objectIdentity's properties.
var objectIdentityProperties = []string{"signInType", "issuer", "issuerAssignedId"}

func canonical(list []string, name string) (string, bool) {
	i := slices.IndexFunc(list, func(p string) bool { return strings.EqualFold(p, name) })
	if i < 0 {
		return "", false
	}
	return list[i], true
}

func unknownProperty(name, typ string) *filterError {
	return &filterError{code: "Request_BadRequest", msg: "Could not find a property named '" + name + "' on type '" + typ + "'."}
}

func unsupportedQuery() *filterError {
	return &filterError{code: "Request_UnsupportedQuery", msg: "Unsupported Query."}
}

// bindFilter checks every property name against the types, as Graph's parser does before anything else.
func bindFilter(n node, vars map[string]string) error {
	switch n := n.(type) {
	case orNode:
		for _, t := range n.terms {
			if err := bindFilter(t, vars); err != nil {
				return err
			}
		}
	case andNode:
		for _, t := range n.terms {
			if err := bindFilter(t, vars); err != nil {
				return err
			}
		}
	case notNode:
		return bindFilter(n.inner, vars)
	case cmpNode:
		return bindPath(n.path, vars)
	case operandNode:
		return bindPath(n.path, vars)
	case callNode:
		for _, a := range n.args {
			if err := bindFilter(a, vars); err != nil {
				return err
			}
		}
	case anyNode:
		if err := bindPath(n.path, nil); err != nil {
			return err
		}
		if n.body == nil {
			return nil
		}
		inner := map[string]string{}
		for k, v := range vars {
			inner[k] = v
		}
		elem := "Edm.String"
		if strings.EqualFold(n.path[0], "identities") {
			elem = "microsoft.graph.objectIdentity"
		}
		inner[n.v] = elem
		return bindFilter(n.body, inner)
	}
	return nil
}

func bindPath(path []string, vars map[string]string) error {
	if len(path) == 0 {
		return nil
	}
	if typ, ok := vars[path[0]]; ok {
		if len(path) > 1 && typ == "microsoft.graph.objectIdentity" {
			if _, ok := canonical(objectIdentityProperties, path[1]); !ok {
				return unknownProperty(path[1], typ)
			}
		}
		return nil
	}
	if _, ok := canonical(userProperties, path[0]); !ok {
		return unknownProperty(path[0], "microsoft.graph.user")
	}
	return nil
}

// userQuery is a filter devtenant can run: either address clauses joined by or, or one identities clause.
type userQuery struct {
	clauses  []clause
	identity *identityClause
	advanced bool // needs ConsistencyLevel: eventual and $count=true
}

type clause struct {
	prop  string // userPrincipalName, mail, proxyAddresses, otherMails
	value string
}

type identityClause struct {
	issuerAssignedID string
	issuer           string
}

// compileFilter parses, binds and classifies a $filter value.
func compileFilter(filter string) (*userQuery, error) {
	n, err := parseFilter(filter)
	if err != nil {
		return nil, err
	}
	if err := bindFilter(n, nil); err != nil {
		return nil, err
	}
	terms := []node{n}
	if or, ok := n.(orNode); ok {
		terms = or.terms
	}
	if len(terms) == 1 {
		if a, ok := terms[0].(anyNode); ok && strings.EqualFold(a.path[0], "identities") {
			ic, err := identityFilter(a)
			if err != nil {
				return nil, err
			}
			return &userQuery{identity: ic}, nil
		}
	}
	q := &userQuery{}
	lambdas := 0
	for _, t := range terms {
		c, isLambda, ok := simpleClause(t)
		if !ok {
			return nil, unsupportedQuery()
		}
		if isLambda {
			lambdas++
		}
		q.clauses = append(q.clauses, c)
	}
	q.advanced = lambdas > 0 && len(terms) > 1
	return q, nil
}

// simpleClause recognises `userPrincipalName eq 'v'`, `mail eq 'v'` and
// `proxyAddresses|otherMails/any(x:x eq 'v')` with any lambda variable name.
func simpleClause(n node) (clause, bool, bool) {
	switch n := n.(type) {
	case cmpNode:
		if n.leftLit || n.op != "eq" || n.litKind != tkString || len(n.path) != 1 {
			return clause{}, false, false
		}
		prop, _ := canonical(userProperties, n.path[0])
		if prop != "userPrincipalName" && prop != "mail" {
			return clause{}, false, false
		}
		return clause{prop: prop, value: n.lit}, false, true
	case anyNode:
		prop, _ := canonical(userProperties, n.path[0])
		if n.fn != "any" || len(n.path) != 1 || (prop != "proxyAddresses" && prop != "otherMails") {
			return clause{}, false, false
		}
		c, ok := n.body.(cmpNode)
		if !ok || c.leftLit || c.op != "eq" || c.litKind != tkString || len(c.path) != 1 || c.path[0] != n.v {
			return clause{}, false, false
		}
		return clause{prop: prop, value: c.lit}, true, true
	}
	return clause{}, false, false
}

// identityFilter accepts only identities/any(c:c/issuerAssignedId eq 'v' and c/issuer eq 'i'),
// in either order: Entra requires both parts.
func identityFilter(a anyNode) (*identityClause, error) {
	and, ok := a.body.(andNode)
	if a.fn != "any" || len(a.path) != 1 || !ok || len(and.terms) != 2 {
		return nil, unsupportedQuery()
	}
	ic := &identityClause{}
	seen := map[string]bool{}
	for _, t := range and.terms {
		c, ok := t.(cmpNode)
		if !ok || c.leftLit || c.op != "eq" || c.litKind != tkString || len(c.path) != 2 || c.path[0] != a.v {
			return nil, unsupportedQuery()
		}
		prop, _ := canonical(objectIdentityProperties, c.path[1])
		switch prop {
		case "issuerAssignedId":
			ic.issuerAssignedID = c.lit
		case "issuer":
			ic.issuer = c.lit
		default:
			return nil, unsupportedQuery()
		}
		if seen[prop] {
			return nil, unsupportedQuery()
		}
		seen[prop] = true
	}
	return ic, nil
}

// matches evaluates the query against one user; mail, UPN and address comparisons ignore case.
func (q *userQuery) matches(u *User) bool {
	if q.identity != nil {
		return slices.ContainsFunc(u.Identities, func(i ObjectIdentity) bool {
			return strings.EqualFold(i.IssuerAssignedID, q.identity.issuerAssignedID) && strings.EqualFold(i.Issuer, q.identity.issuer)
		})
	}
	eq := func(s string) func(string) bool { return func(v string) bool { return strings.EqualFold(v, s) } }
	for _, c := range q.clauses {
		switch c.prop {
		case "userPrincipalName":
			if strings.EqualFold(u.UserPrincipalName, c.value) {
				return true
			}
		case "mail":
			if u.Mail != "" && strings.EqualFold(u.Mail, c.value) {
				return true
			}
		case "proxyAddresses":
			if slices.ContainsFunc(u.ProxyAddresses, eq(c.value)) {
				return true
			}
		case "otherMails":
			if slices.ContainsFunc(u.OtherMails, eq(c.value)) {
				return true
			}
		}
	}
	return false
}

// usesNonBasic reports whether the query filters on properties User.ReadBasic.All cannot read.
func (q *userQuery) usesNonBasic() bool {
	if q.identity != nil {
		return true
	}
	return slices.ContainsFunc(q.clauses, func(c clause) bool { return c.prop == "proxyAddresses" || c.prop == "otherMails" })
}
