package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The environment Argo CD gives a custom health check from argocd-cm (util/lua/lua.go in
// argoproj/argo-cd): a state without the standard libraries except package, base and table, an
// os table holding only time and date (also what require("os") returns), the object as the
// global `obj` (JSON values as Lua values: objects and arrays as tables, numbers as numbers,
// json null as nil), and one second to run. The script returns {status=..., message=...}.

// argocdTimeout is Argo CD's limit on one run of a script.
const argocdTimeout = time.Second

// argocdHealthStatuses are the statuses Argo CD accepts; any other becomes Unknown.
var argocdHealthStatuses = map[string]bool{"Healthy": true, "Progressing": true, "Degraded": true, "Suspended": true, "Missing": true, "Unknown": true}

const invalidHealthStatus = "Lua returned an invalid health status"

func argocdHealth(script string) check {
	return func(u *unstructured.Unstructured) (string, string, error) {
		l := newArgocdState()
		defer l.Close()
		ctx, cancel := context.WithTimeout(context.Background(), argocdTimeout)
		defer cancel()
		l.SetContext(ctx)
		l.SetGlobal("obj", luaValue(l, u.Object))
		fn, err := l.LoadString(script)
		if err != nil {
			return "", "", err
		}
		l.Push(fn)
		if err := l.PCall(0, lua.MultRet, nil); err != nil {
			var apiErr *lua.ApiError
			if errors.As(err, &apiErr) && apiErr.Type == lua.ApiErrorRun {
				apiErr.StackTrace = "" // Argo CD shows the error without Lua's stack trace
			}
			return "", "", err
		}
		ret := l.Get(-1)
		switch ret.Type() {
		case lua.LTNil:
			return "", "", nil // Argo CD: an empty health status
		case lua.LTTable:
		default:
			return "", "", fmt.Errorf("expect table output from Lua script, not %s", ret.Type())
		}
		t := ret.(*lua.LTable)
		status, err := stringField(t, "status")
		if err != nil {
			return "", "", err
		}
		message, err := stringField(t, "message")
		if err != nil {
			return "", "", err
		}
		if !argocdHealthStatuses[status] {
			return "Unknown", invalidHealthStatus, nil
		}
		return status, message, nil
	}
}

func stringField(t *lua.LTable, name string) (string, error) {
	switch v := t.RawGetString(name).(type) {
	case *lua.LNilType:
		return "", nil
	case lua.LString:
		return string(v), nil
	default:
		return "", fmt.Errorf("the script returned a %s as %s, Argo CD expects a string", v.Type(), name)
	}
}

func newArgocdState() *lua.LState {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			panic(err)
		}
	}
	safe := safeOsFunctions(l)
	l.SetGlobal(lua.OsLibName, safe)
	l.PreloadModule(lua.OsLibName, func(l *lua.LState) int {
		l.Push(safeOsFunctions(l))
		return 1
	})
	return l
}

// safeOsFunctions: a table with gopher-lua's own os.time and os.date, and nothing else of os.
func safeOsFunctions(l *lua.LState) *lua.LTable {
	scratch := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer scratch.Close()
	scratch.Push(scratch.NewFunction(lua.OpenOs))
	scratch.Call(0, 1)
	full := scratch.Get(-1).(*lua.LTable)
	safe := l.NewTable()
	for _, name := range []string{"time", "date"} {
		f := full.RawGetString(name).(*lua.LFunction)
		safe.RawSetString(name, l.NewFunction(f.GFunction))
	}
	return safe
}

// luaValue converts a decoded object the way Argo CD does: maps and slices to tables, int64 and
// float64 to numbers, strings and booleans as they are, anything else (null) to nil.
func luaValue(l *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case int64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case []any:
		t := l.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(luaValue(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(v))
		for k, item := range v {
			t.RawSetH(lua.LString(k), luaValue(l, item))
		}
		return t
	}
	return lua.LNil
}
