package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"runtime/debug"
	"sort"
	"strings"
)

var (
	contextType = reflect.TypeFor[context.Context]()
	errorType   = reflect.TypeFor[error]()
)

// results says what a served method returns.
type results int

const (
	returnsNothing    results = iota // func()
	returnsError                     // func() error
	returnsValue                     // func() T
	returnsValueError                // func() (T, error)
)

// method is one served method.
type method struct {
	name    string        // "App.Ping"
	fn      reflect.Value // bound to its receiver
	ctx     bool          // first parameter is a context.Context
	params  []reflect.Type
	results results
}

// register finds the exported methods of every bound struct.
func register(bound []any) (map[string]*method, error) {
	methods := make(map[string]*method)
	seen := make(map[string]bool)
	for i, b := range bound {
		if b == nil {
			return nil, fmt.Errorf("bridge: bound value %d is nil", i)
		}
		v := reflect.ValueOf(b)
		t := v.Type()
		st := t
		if st.Kind() == reflect.Pointer {
			st = st.Elem()
		}
		if st.Kind() != reflect.Struct || st.Name() == "" {
			return nil, fmt.Errorf("bridge: bound value %d is a %s; bind a named struct or a pointer to one", i, t)
		}
		if seen[st.Name()] {
			return nil, fmt.Errorf("bridge: two bound structs are named %s; calls could not tell them apart", st.Name())
		}
		seen[st.Name()] = true
		for j := range t.NumMethod() {
			m, err := newMethod(st.Name()+"."+t.Method(j).Name, v.Method(j))
			if err != nil {
				return nil, err
			}
			methods[m.name] = m
		}
	}
	return methods, nil
}

// newMethod checks a method's signature.
func newMethod(name string, fn reflect.Value) (*method, error) {
	t := fn.Type()
	m := &method{name: name, fn: fn}
	for i := range t.NumIn() {
		p := t.In(i)
		if i == 0 && p == contextType {
			m.ctx = true
			continue
		}
		m.params = append(m.params, p)
	}
	switch {
	case t.NumOut() == 0:
		m.results = returnsNothing
	case t.NumOut() == 1 && t.Out(0) == errorType:
		m.results = returnsError
	case t.NumOut() == 1:
		m.results = returnsValue
	case t.NumOut() == 2 && t.Out(1) == errorType:
		m.results = returnsValueError
	default:
		return nil, fmt.Errorf("bridge: method %s returns %d values; served methods return nothing, T, error or (T, error)", name, t.NumOut())
	}
	return m, nil
}

// signature describes the method's parameters for error messages.
func (m *method) signature() string {
	names := make([]string, len(m.params))
	for i, p := range m.params {
		names[i] = p.String()
	}
	if m.fn.Type().IsVariadic() && len(names) > 0 {
		last := len(names) - 1
		names[last] = "..." + m.params[last].Elem().String()
	}
	return m.name + "(" + strings.Join(names, ", ") + ")"
}

// decodeArgs parses a call body: a JSON array of arguments, or nothing for
// none.
func decodeArgs(body []byte) ([]json.RawMessage, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, nil
	}
	if body[0] != '[' {
		return nil, errors.New(`the request body must be a JSON array of the arguments, like ["text", 2]`)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var args []json.RawMessage
	if err := dec.Decode(&args); err != nil {
		return nil, fmt.Errorf("the request body is not valid JSON: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("the request body has more data after the array of arguments")
	}
	return args, nil
}

// bind decodes the arguments into the method's parameter types.
func (m *method) bind(args []json.RawMessage) ([]reflect.Value, error) {
	variadic := m.fn.Type().IsVariadic()
	fixed := len(m.params)
	if variadic {
		fixed--
	}
	if len(args) != fixed && (!variadic || len(args) < fixed) {
		want := fmt.Sprintf("%d argument%s", fixed, plural(fixed))
		if variadic {
			want = "at least " + want
		}
		return nil, fmt.Errorf("%s takes %s, got %d", m.signature(), want, len(args))
	}
	in := make([]reflect.Value, len(args))
	for i, raw := range args {
		var t reflect.Type
		if i < fixed {
			t = m.params[i]
		} else {
			t = m.params[fixed].Elem()
		}
		p := reflect.New(t)
		if err := json.Unmarshal(raw, p.Interface()); err != nil {
			return nil, fmt.Errorf("%s: argument %d (%s): %s", m.name, i+1, t, jsonProblem(err))
		}
		in[i] = p.Elem()
	}
	return in, nil
}

// panicError is what a call that panicked returns.
type panicError struct{ method string }

func (e *panicError) Error() string {
	return e.method + " failed unexpectedly (a bug); the log has the details"
}

// invoke calls the method and returns its result and error. A panic becomes
// a *panicError; the stack goes to the log.
func (s *Server) invoke(ctx context.Context, m *method, args []reflect.Value) (result any, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("bridge call panicked", "method", m.name, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			result, err = nil, &panicError{method: m.name}
		}
	}()
	if m.ctx {
		args = append([]reflect.Value{reflect.ValueOf(ctx)}, args...)
	}
	out := m.fn.Call(args)
	switch m.results {
	case returnsError:
		err, _ = out[0].Interface().(error)
	case returnsValue:
		result = out[0].Interface()
	case returnsValueError:
		result = out[0].Interface()
		err, _ = out[1].Interface().(error)
	}
	return result, err
}

// handleCall serves POST /api/call/{Struct}.{Method}.
func (s *Server) handleCall(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, errorf(http.StatusMethodNotAllowed, "calls are made with POST, not %s", r.Method))
		return
	}
	name := r.PathValue("name")
	m, ok := s.methods[name]
	if !ok {
		writeError(w, errorf(http.StatusNotFound, "there is no method %q; known methods: %s", name, s.methodNames()))
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" || r.ContentLength != 0 {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			writeError(w, errorf(http.StatusUnsupportedMediaType, "the request body must be sent as application/json, not %q", ct))
			return
		}
	}
	release, ok := s.admitBody(w, r)
	if !ok {
		return
	}
	defer release()
	body, err := readBody(http.MaxBytesReader(w, r.Body, s.maxBody), r.ContentLength, s.maxBody)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeError(w, errorf(http.StatusRequestEntityTooLarge, "the request body is larger than the limit of %s; send the data in smaller batches", byteSize(s.maxBody)))
			return
		}
		writeError(w, errorf(http.StatusBadRequest, "reading the request body: %v", err))
		return
	}
	raw, err := decodeArgs(body)
	if err != nil {
		writeError(w, errorf(http.StatusBadRequest, "%s: %v", name, err))
		return
	}
	args, err := m.bind(raw)
	if err != nil {
		writeError(w, errorf(http.StatusBadRequest, "%v", err))
		return
	}
	result, err := s.invoke(r.Context(), m, args)
	if err != nil {
		status := http.StatusInternalServerError
		if _, panicked := errors.AsType[*panicError](err); s.errorStatus != nil && !panicked {
			if st := s.errorStatus(err); st >= 400 && st <= 599 {
				status = st
			}
		}
		s.log.Debug("bridge call failed", "method", name, "status", status, "err", err)
		writeError(w, errorf(status, "%s", err.Error()))
		return
	}
	s.log.Debug("bridge call", "method", name)
	writeJSON(w, http.StatusOK, struct {
		Result any `json:"result"`
	}{result})
}

// methodNames lists the served methods for the 404 message.
func (s *Server) methodNames() string {
	names := make([]string, 0, len(s.methods))
	for n := range s.methods {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// jsonProblem describes a JSON decoding error for people.
func jsonProblem(err error) string {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		where := ""
		if te.Field != "" {
			where = fmt.Sprintf("field %q ", te.Field)
		}
		return fmt.Sprintf("%smust be %s, not a JSON %s", where, describeType(te.Type), te.Value)
	}
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "it ends too early"
	}
	return err.Error()
}

// describeType names a Go type the way JSON sees it.
func describeType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a whole number (" + t.String() + ")"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array (" + t.String() + ")"
	case reflect.Map, reflect.Struct:
		return "an object (" + t.String() + ")"
	}
	return "a " + t.String()
}

// byteSize formats a byte count for people.
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// admitBody waits for a place to read the body when it is large (declared
// over LargeBodyBytes, or of unknown length), so that many large calls at
// once cannot take the process's memory: each is held whole while it is
// decoded and handled. It returns false, having answered, when the request
// ends while it waits.
func (s *Server) admitBody(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	if r.ContentLength >= 0 && r.ContentLength <= LargeBodyBytes {
		return func() {}, true
	}
	select {
	case s.large <- struct{}{}:
		return func() { <-s.large }, true
	case <-r.Context().Done():
		writeError(w, errorf(http.StatusServiceUnavailable, "too many large calls at once; try again"))
		return nil, false
	}
}

// readBody reads a call body; a declared length within the limit sizes the
// buffer once, instead of io.ReadAll's doubling (which holds up to twice
// the body while it grows).
func readBody(r io.Reader, declared, limit int64) ([]byte, error) {
	if declared <= 0 || declared > limit {
		return io.ReadAll(r)
	}
	buf := bytes.NewBuffer(make([]byte, 0, declared+bytes.MinRead))
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}
