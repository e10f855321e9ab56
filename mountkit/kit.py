"""The registry: a :class:`Kit` owns a pluggy plugin manager and answers look-ups.

Nothing is loaded when ``mountkit`` is imported.  ``Kit()`` registers the
built-in plugins (:data:`mountkit.builtin.BUILTIN_PLUGINS`) and every
entry point of the group ``mountkit``, each in isolation: a plugin that fails
to import, whose hook raises, or that registers something malformed is
reported by name and skipped, and the rest keep working
(``MOUNTKIT_STRICT_PLUGINS=1`` makes such failures errors).

What a plugin's status in :meth:`Kit.plugins` means:

``ok``
    loaded; everything it registered was accepted.
``partial``
    loaded, but one of its hooks raised (what that hook registered in that
    call is dropped) or something it registered was malformed (that item is
    dropped); the rest of what it provides is used.
``failed``
    not loaded: its import failed, pluggy refused it, it implements an
    unknown ``mountkit_*`` hook, or its name is taken.
``disabled``
    installed but not loaded (``MOUNTKIT_LOAD_PLUGINS`` /
    ``MOUNTKIT_DISABLE_PLUGINS``).
``missing``
    named in ``MOUNTKIT_LOAD_PLUGINS`` but not installed.

Environment variables, read when a kit is built:

``MOUNTKIT_LOAD_PLUGINS=a,b``
    load only these entry points (by entry-point or distribution name);
    an empty string loads none.  Built-ins are always loaded.
``MOUNTKIT_DISABLE_PLUGINS=a,b``
    block these entry points (by entry-point or distribution name).
``MOUNTKIT_TRACE_PLUGINS=1``
    print every plugin loaded, every hook call and what each plugin
    registered to stderr.
``MOUNTKIT_STRICT_PLUGINS=1``
    raise :class:`mountkit.PluginError` instead of warning.

Names in the two lists are compared as pip compares project names
(case-insensitive; ``-``, ``_`` and ``.`` are equivalent).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata as md
import inspect
import os
import re
import sys
import traceback
import types
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from .errors import MountkitError, NotFoundError, PluginError
from .hardware import Camera, Mount
from .profile import Lens

ENTRY_POINT_GROUP = "mountkit"

#: Values of :attr:`PluginInfo.status`.
STATUSES = ("ok", "partial", "failed", "disabled", "missing")


class PluginWarning(UserWarning):
    """A plugin failed, or part of what it registered was rejected (see ``kit.plugins()``)."""


@dataclass(frozen=True)
class LensSource:
    """A source of lenses, registered on ``mountkit_register_lens_sources``.

    ``load()`` returns an iterable of :class:`Lens`; lower ``priority`` is
    searched first and wins for the same lens identity.
    """

    name: str
    load: Callable[[], Iterable[Lens]]
    priority: int = 50
    description: str = ""


@dataclass(frozen=True)
class Identifier:
    """A lens identifier, registered on ``mountkit_register_identifiers``.

    ``identify(metadata, kit)`` returns a :class:`Lens` or None; lower
    ``priority`` is tried first.
    """

    name: str
    identify: Callable[[Mapping[str, Any], "Kit"], Lens | None]
    priority: int = 50


@dataclass
class PluginInfo:
    """What ``kit.plugins()`` reports for one plugin.

    ``name`` is the entry-point name (or, for built-ins and plugins passed to
    :class:`Kit`, the module name); ``distribution`` and ``version`` are those
    of the installed distribution that provides it; ``hooks`` the hooks it
    implements; ``status`` one of :data:`STATUSES`; ``error`` the first
    problem found and ``errors`` all of them.
    """

    name: str
    version: str | None = None
    distribution: str | None = None
    module: str | None = None
    hooks: tuple[str, ...] = ()
    status: str = "ok"
    error: str | None = None
    builtin: bool = False
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "version": self.version,
            "distribution": self.distribution,
            "module": self.module,
            "hooks": list(self.hooks),
            "status": self.status,
            "error": self.error,
            "errors": list(self.errors),
            "builtin": self.builtin,
        }


def normalize_name(name: str) -> str:
    """A distribution or entry-point name as pip compares them (PEP 503).

    >>> normalize_name("Mountkit_Leica.M")
    'mountkit-leica-m'
    """
    return re.sub(r"[-_.]+", "-", name).strip().lower()


def _env_list(env: Mapping[str, str], key: str) -> set[str] | None:
    if key not in env:
        return None
    return {normalize_name(p) for p in env[key].split(",") if p.strip()}


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _describe(exc: BaseException) -> str:
    """``Type: message`` of an exception, on one line."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_HOOKABLE = (types.FunctionType, types.MethodType, staticmethod, classmethod)


class _Manager(pluggy.PluginManager):
    """A plugin manager that also treats unmarked ``mountkit_*`` functions as hook implementations.

    A misspelled hook then fails loudly (as pytest does with ``pytest_*``).
    """

    def parse_hookimpl_opts(self, plugin, name):
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name.startswith("mountkit_"):
            # Look the attribute up statically, as pluggy does: no property or
            # __getattr__ of the plugin runs, and only functions and methods count.
            try:
                attr = inspect.getattr_static(plugin, name)
            except AttributeError:
                return None
            if isinstance(attr, _HOOKABLE):
                return {}
        return opts


def _own_distribution() -> tuple[str | None, str | None]:
    """(version, name) of the installed mountkit distribution, for the built-ins' PluginInfo."""
    try:
        return md.version("mountkit"), "mountkit"
    except md.PackageNotFoundError:
        return None, None


_WORD = re.compile(r"[0-9]+(?:\.[0-9]+)*|[^\W\d_]+|[^\w\s]+", re.UNICODE)


def name_words(name: str) -> list[str]:
    """Words of a lens or camera name as lensfun's fuzzy matcher splits them.

    Digit runs (with '.'), letter runs and punctuation runs, case-folded;
    single punctuation characters and a lone "f" are dropped, except "+" and
    "*" (lensfun 0.3.4 ``lfFuzzyStrCmp``).
    """
    words = []
    for w in _WORD.findall(name.casefold().replace("_", " ")):
        if len(w) == 1 and not w.isalnum() and w not in "+*":
            continue
        if w == "f":
            continue
        words.append(w)
    return words


def match_score(pattern: str, candidate: str) -> float:
    """lensfun's strict fuzzy score: 0 unless every pattern word is in the candidate.

    ``200 * matched / (n_pattern + n_candidate)``.
    """
    pw, cw = name_words(pattern), name_words(candidate)
    if not pw or not cw:
        return 0.0
    pool = list(cw)
    for w in pw:
        if w in pool:
            pool.remove(w)
        else:
            return 0.0
    return 200.0 * len(pw) / (len(pw) + len(cw))


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def _suggest(name: str, candidates: Iterable[str], n: int = 5) -> list[str]:
    cands = list(dict.fromkeys(candidates))
    lower = {c.casefold(): c for c in cands}
    close = difflib.get_close_matches(name.casefold(), list(lower), n=n, cutoff=0.4)
    out = [lower[c] for c in close]
    if len(out) < n:
        scored = sorted(((match_score(w, c), c) for c in cands for w in [name]), reverse=True)
        for s, c in scored:
            if s > 0 and c not in out:
                out.append(c)
            if len(out) >= n:
                break
    if len(out) < n:
        words = set(name_words(name))
        partial = sorted(cands, key=lambda c: -len(words & set(name_words(c))))
        for c in partial:
            if words & set(name_words(c)) and c not in out:
                out.append(c)
            if len(out) >= n:
                break
    return out[:n]


# -- the registry -------------------------------------------------------------


# -- the registry -------------------------------------------------------------


class Kit:
    """The mountkit registry: plugins, and everything they provide.

    Parameters
    ----------
    plugins : iterable of modules or objects, optional
        Extra plugins to register (after the built-ins and before entry
        points).  Each may be a module, an object with hook methods, or a
        dotted module name.
    entry_points : bool
        Load plugins from the ``mountkit`` entry-point group (default True).
    builtins : bool
        Register mountkit's built-in plugins (default True).
    strict : bool, optional
        Raise :class:`mountkit.PluginError` on plugin failures instead of
        reporting them; default from ``MOUNTKIT_STRICT_PLUGINS``.
    trace : bool, optional
        Print plugin loading and hook calls to stderr; default from
        ``MOUNTKIT_TRACE_PLUGINS``.
    env : mapping, optional
        Environment to read the ``MOUNTKIT_*`` variables from (default
        ``os.environ``).
    warn : bool
        Emit a :class:`PluginWarning` for each plugin problem (default).
        With False problems are only recorded (see :meth:`problems`); the
        command line does this and prints them itself.

    Examples
    --------
    >>> import mountkit
    >>> kit = mountkit.Kit(entry_points=False)
    >>> ("distortion", "poly3") in kit.models()
    True
    """

    def __init__(
        self,
        plugins: Iterable[Any] = (),
        *,
        entry_points: bool = True,
        builtins: bool = True,
        strict: bool | None = None,
        trace: bool | None = None,
        env: Mapping[str, str] | None = None,
        warn: bool = True,
    ):
        env = os.environ if env is None else env
        self.strict = _truthy(env.get("MOUNTKIT_STRICT_PLUGINS")) if strict is None else strict
        self.trace = _truthy(env.get("MOUNTKIT_TRACE_PLUGINS")) if trace is None else trace
        self.warn = warn
        self._pm = _Manager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._infos: dict[str, PluginInfo] = {}
        self._problems: list[tuple[str, str]] = []
        self._cache: dict[str, Any] = {}
        self._owners: dict[int, str] = {}  # id(registered item) -> plugin name, where needed
        if builtins:
            from .builtin import BUILTIN_PLUGINS

            version, dist = _own_distribution()
            for modname in BUILTIN_PLUGINS:
                info = self._new_info(modname, module=modname, builtin=True, version=version, distribution=dist)
                self._add(modname, name=modname, info=info)
        for plugin in plugins:
            self._add(plugin)
        if entry_points:
            self._load_entry_points(env)

    # -- reporting ----------------------------------------------------------

    def _trace(self, message: str) -> None:
        if self.trace:
            print(f"mountkit-trace: {message}"[:1000], file=sys.stderr, flush=True)

    def _problem(self, info: PluginInfo, reason: str, status: str, exc: BaseException | None = None) -> None:
        """Record a problem of ``info``'s plugin; raise in strict mode, else warn (once per reason)."""
        if status == "failed" or info.status == "ok":
            info.status = status
        new = reason not in info.errors
        if new:
            info.errors.append(reason)
            if info.error is None:
                info.error = reason
            self._problems.append((info.name, reason))
            self._trace(f"problem in {info.name}: {reason}")
        if self.strict:
            raise PluginError(info.name, reason) from exc
        if new and self.warn:
            what = "skipped" if status in ("failed", "missing") else "partly rejected"
            warnings.warn(f"mountkit plugin {info.name!r} {what}: {reason}", PluginWarning, stacklevel=4)

    def _fail(self, info: PluginInfo, reason: str, *, exc: BaseException | None = None) -> None:
        """The plugin cannot be used at all."""
        self._problem(info, reason, "failed", exc)

    def _reject(self, info: PluginInfo, reason: str, *, exc: BaseException | None = None) -> None:
        """Part of what the plugin provides was dropped; the rest is used."""
        self._problem(info, reason, "partial", exc)

    def problems(self) -> list[tuple[str, str]]:
        """Plugin problems found so far, as ``(plugin name, reason)``, in the order found.

        Unlike :meth:`plugins` this calls no hook: problems inside hooks that
        have not run yet are not known.
        """
        return list(self._problems)

    # -- plugin loading ---------------------------------------------------

    def _new_info(self, name: str, **kw) -> PluginInfo:
        """A PluginInfo recorded under ``name``, or under ``name#2``... when the name is taken."""
        key, n = name, 1
        while key in self._infos:
            n += 1
            key = f"{name}#{n}"
        info = PluginInfo(name=name, **kw)
        self._infos[key] = info
        return info

    def _add(self, plugin: Any, *, name: str | None = None, builtin: bool = False,
             info: PluginInfo | None = None) -> None:
        if isinstance(plugin, str):
            modname = plugin
            name = name or modname
            info = info or self._new_info(name, module=modname, builtin=builtin)
            try:
                plugin = importlib.import_module(modname)
            except Exception as exc:  # a plugin may raise anything on import
                self._fail(info, f"import failed: {_describe(exc)}", exc=exc)
                return
        if name is None:
            # Derived names (plugins passed as objects) are made unique; given names are not.
            base = getattr(plugin, "__name__", None) or type(plugin).__name__
            name, n = base, 1
            while name in self._infos:
                n += 1
                name = f"{base}-{n}"
        if info is None:
            info = self._new_info(name, builtin=builtin)
        if info.module is None:
            info.module = getattr(plugin, "__name__", None) or type(plugin).__name__
        if self._pm.has_plugin(name):
            self._fail(info, f"a plugin named {name!r} is already registered")
            return
        if self._pm.is_registered(plugin):
            self._fail(info, f"the same plugin object is already registered as {self._pm.get_name(plugin)!r}")
            return
        try:
            self._pm.register(plugin, name=name)
        except Exception as exc:  # pluggy's validation, or an attribute that raises
            if self._pm.get_plugin(name) is plugin:  # older pluggy may leave it half-registered
                self._pm.unregister(name=name)
            self._fail(info, f"registration refused: {_describe(exc)}", exc=exc)
            return
        callers = self._pm.get_hookcallers(plugin) or []
        unknown, wrappers = [], []
        for hc in callers:
            mine = [impl for impl in hc.get_hookimpls() if impl.plugin is plugin]
            if not hc.has_spec() and not all(impl.optionalhook for impl in mine):
                unknown.append(hc.name)
            if any(impl.hookwrapper or impl.wrapper for impl in mine):
                wrappers.append(hc.name)
        if unknown or wrappers:
            self._pm.unregister(name=name)
            if unknown:
                known = [n for n in dir(hookspecs) if n.startswith("mountkit_")]
                hints = []
                for u in sorted(unknown):
                    close = difflib.get_close_matches(u, known, n=1)
                    hints.append(u + (f" (did you mean {close[0]}?)" if close else ""))
                self._fail(info, "unknown hook implementation(s): " + ", ".join(hints)
                           + " (mark a hook newer than this mountkit with @hookimpl(optionalhook=True))")
            else:
                self._fail(info, "hook wrappers are not supported on mountkit hooks: " + ", ".join(sorted(wrappers)))
            return
        info.hooks = tuple(sorted(hc.name for hc in callers if hc.has_spec()))
        self._trace(f"registered {name} ({info.module}): {', '.join(info.hooks) or 'no hooks'}")

    def _load_entry_points(self, env: Mapping[str, str]) -> None:
        only = _env_list(env, "MOUNTKIT_LOAD_PLUGINS")
        blocked = _env_list(env, "MOUNTKIT_DISABLE_PLUGINS") or set()
        matched: set[str] = set()
        seen: dict[str, tuple[str, str | None]] = {}

        def dist_of(ep) -> tuple[str | None, str | None]:
            dist = getattr(ep, "dist", None)
            if dist is None:
                return None, None
            return dist.metadata["Name"], dist.version

        # Sorted, so that which plugin registers first (first wins) does not
        # depend on the order of sys.path or of the file system.
        eps = sorted(md.entry_points(group=ENTRY_POINT_GROUP),
                     key=lambda ep: (ep.name, normalize_name(dist_of(ep)[0] or ""), ep.value))
        for ep in eps:
            dist_name, version = dist_of(ep)
            if ep.name in seen:
                if seen[ep.name] == (ep.value, dist_name):
                    continue  # the same distribution found twice on sys.path
                info = self._new_info(ep.name, version=version, distribution=dist_name, module=ep.value)
                other = seen[ep.name][1] or seen[ep.name][0]
                self._fail(info, f"entry point name {ep.name!r} is already used by {other}; "
                                 f"rename one of them (or uninstall {dist_name or ep.value})")
                continue
            seen[ep.name] = (ep.value, dist_name)
            info = self._new_info(ep.name, version=version, distribution=dist_name, module=ep.value)
            names = {normalize_name(ep.name)} | ({normalize_name(dist_name)} if dist_name else set())
            if only is not None:
                matched |= names & only
            if (only is not None and not names & only) or names & blocked:
                info.status = "disabled"
                self._trace(f"disabled {ep.name} ({dist_name})")
                continue
            try:
                obj = ep.load()
            except Exception as exc:  # a plugin may raise anything on import
                self._fail(info, f"import failed: {_describe(exc)}", exc=exc)
                continue
            self._add(obj, name=ep.name, info=info)
        for missing in sorted((only or set()) - matched):
            info = self._new_info(missing, status="missing")
            self._problem(info, "named in MOUNTKIT_LOAD_PLUGINS, but no installed distribution provides it",
                          "missing")

    # -- calling hooks ----------------------------------------------------

    def _collect(self, hook_name: str, check: Callable[..., Any] | None = None,
                 arg_name: str = "register", arg: Any = None) -> list[tuple[str, Any]]:
        """Call one hook, plugin by plugin, in registration order.

        Returns ``(plugin_name, item)`` for everything registered.  A plugin
        whose implementation raises has what it registered in this call
        rolled back and is reported; ``check(plugin_name, *args, **kwargs)``
        validates each registration and returns the item to keep.
        """
        caller = getattr(self._pm.hook, hook_name)
        out: list[tuple[str, Any]] = []
        order = {id(p): i for i, (_, p) in enumerate(self._pm.list_name_plugin())}
        impls = sorted(caller.get_hookimpls(), key=lambda i: order.get(id(i.plugin), len(order)))
        for impl in impls:
            pname = self._pm.get_name(impl.plugin) or impl.plugin_name
            info = self._info_of(pname)
            got: list[Any] = []

            def register(*args, _got=got, _info=info, **kwargs):
                if check is None:
                    item = args[0] if len(args) == 1 and not kwargs else (args, kwargs)
                else:
                    try:
                        item = check(_info.name, *args, **kwargs)
                    except MountkitError as exc:
                        reason = exc.reason if isinstance(exc, PluginError) else str(exc)
                        self._reject(_info, f"{hook_name}: {reason}", exc=exc)
                        return None
                    except Exception as exc:  # malformed call
                        self._reject(_info, f"{hook_name}: malformed registration: {_describe(exc)}", exc=exc)
                        return None
                _got.append(item)
                self._trace(f"{hook_name} <- {_info.name}: {item!r}")
                return item

            kwargs = {a: (register if arg_name == "register" else arg) for a in impl.argnames if a == arg_name}
            self._trace(f"calling {hook_name} in {pname}")
            try:
                impl.function(**kwargs)
            except Exception as exc:
                if self.strict and isinstance(exc, PluginError):
                    raise  # a strict-mode rejection from inside register()
                tb = traceback.extract_tb(exc.__traceback__)
                where = f" ({tb[-1].filename}:{tb[-1].lineno})" if tb else ""
                self._reject(info, f"{hook_name} raised {_describe(exc)}{where}", exc=exc)
                continue
            self._trace(f"{hook_name} in {pname} registered {len(got)} item(s)")
            out.extend((pname, item) for item in got)
        return out

    def _info_of(self, plugin_name: str | None) -> PluginInfo:
        """The PluginInfo of a registered plugin (created for plugins registered behind the kit's back)."""
        name = plugin_name or "<unknown plugin>"
        info = self._infos.get(name)
        if info is None:
            info = self._new_info(name)
        return info

    def _cached(self, key: str, build: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    # -- plugins ----------------------------------------------------------

    def plugins(self, *, all: bool = False) -> list[PluginInfo]:  # noqa: A002 - mirrors the CLI flag
        """Every plugin: name, version, distribution, hooks, status and error.

        Built-ins are included only with ``all=True``.  Calling this runs
        every registration hook once (not ``mountkit_register_commands``,
        which needs a command group, and not the lens sources' ``load``), so
        plugins that fail inside a hook are reported too.  See
        :data:`STATUSES` for what ``status`` means.
        """
        self._load_everything()
        return [i for i in self._infos.values() if all or not i.builtin]

    def _load_everything(self) -> None:
        for fn in (self.mounts, self.cameras, self.models, self.resamplers, self.frame_formats,
                   self.frame_tools, self.identifiers, self._lens_sources):
            fn()

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The underlying pluggy manager (for advanced use and tests)."""
        return self._pm

    # -- mounts and cameras -----------------------------------------------

    def mounts(self) -> dict[str, Mount]:
        """All mounts by name."""

        def build():
            def check(plugin, mount):
                if not isinstance(mount, Mount):
                    raise PluginError(plugin, f"expected a mountkit.Mount, got {type(mount).__name__}")
                return mount if mount.source else Mount(**{**mount.__dict__, "source": plugin})

            result: dict[str, Mount] = {}
            for _, m in self._collect("mountkit_register_mounts", check):
                result.setdefault(m.name, m)
            return result

        return self._cached("mounts", build)

    def mount(self, name: str) -> Mount:
        """The mount called ``name`` (case-insensitive, aliases accepted)."""
        mounts = self.mounts()
        k = _key(name)
        for m in mounts.values():
            if k == _key(m.name) or k in {_key(a) for a in m.aliases}:
                return m
        raise NotFoundError("mount", name, _suggest(name, mounts))

    def cameras(self) -> list[Camera]:
        """All camera bodies, in registration order."""

        def build():
            def check(plugin, camera):
                if not isinstance(camera, Camera):
                    raise PluginError(plugin, f"expected a mountkit.Camera, got {type(camera).__name__}")
                return camera if camera.source else Camera(**{**camera.__dict__, "source": plugin})

            return [c for _, c in self._collect("mountkit_register_cameras", check)]

        return self._cached("cameras", build)

    def camera(self, name: str, maker: str | None = None) -> Camera:
        """The camera best matching ``name`` ("Leica M10", or model "M10" with ``maker``)."""
        cams = self.cameras()
        full = f"{maker} {name}" if maker else name
        k = _key(full)
        for c in cams:
            names = {_key(c.name), _key(f"{c.maker} {c.model}")} | {_key(a) for a in c.aliases}
            if maker is None:
                names.add(_key(c.model))
            if k in names:
                return c
        best, best_score = None, 0.0
        for c in cams:
            s = max(match_score(full, f"{c.maker} {c.model}"), *(match_score(full, a) for a in c.aliases),
                    0.0)
            if s > best_score:
                best, best_score = c, s
        if best is not None:
            return best
        raise NotFoundError("camera", full, _suggest(full, [c.name for c in cams]))

    # -- lenses -----------------------------------------------------------

    def _lens_sources(self) -> list[tuple[str, LensSource]]:
        def build():
            def check(plugin, source):
                if not isinstance(source, LensSource):
                    raise PluginError(plugin, f"expected a mountkit.LensSource, got {type(source).__name__}")
                return source

            got = self._collect("mountkit_register_lens_sources", check)
            return sorted(got, key=lambda ps: ps[1].priority)

        return self._cached("lens_sources", build)

    def _all_lenses(self) -> list[tuple[Lens, list[tuple[str, str]]]]:
        """Lenses in search order, each with the list of (source, plugin) it shadows."""

        def build():
            winners: dict[tuple[str, str], int] = {}
            out: list[tuple[Lens, list[tuple[str, str]]]] = []
            for plugin, source in self._lens_sources():
                info = self._info_of(plugin)
                try:
                    lenses = list(source.load())
                except Exception as exc:  # a source may raise anything; the other sources still count
                    self._reject(info, f"lens source {source.name!r} raised {_describe(exc)}", exc=exc)
                    continue
                seen_here: set[tuple[str, str]] = set()
                for lens in lenses:
                    if not isinstance(lens, Lens):
                        self._reject(info, f"lens source {source.name!r} yielded {type(lens).__name__}, "
                                           "not a mountkit.Lens")
                        continue
                    if not lens.source:
                        lens = Lens(**{**lens.__dict__, "source": source.name})
                    ident = (_key(lens.maker), _key(lens.model))
                    if ident in winners and ident not in seen_here:
                        out[winners[ident]][1].append((source.name, lens.source))
                        continue
                    seen_here.add(ident)
                    winners.setdefault(ident, len(out))
                    out.append((lens, []))
            return out

        return self._cached("lenses", build)

    def lenses(self, query: str | None = None) -> list[Lens]:
        """All lenses, or those whose name contains every word of ``query``.

        Lenses come in search order (see ``mountkit_register_lens_sources``);
        a lens identity provided by several sources appears once, from the
        first source.
        """
        lenses = [lens for lens, _ in self._all_lenses()]
        if not query:
            return lenses
        words = name_words(query)
        out = []
        for lens in lenses:
            hay = set()
            for n in (lens.name, *lens.aliases):
                hay.update(name_words(n))
            if all(w in hay for w in words):
                out.append(lens)
        return out

    def explain_lens(self, name: str, **kw) -> dict:
        """Which lens ``kit.lens(name)`` picks, from which source, and what it shadows."""
        lens = self.lens(name, **kw)
        for candidate, shadowed in self._all_lenses():
            if candidate is lens:
                return {"lens": lens, "source": lens.source, "shadowed": shadowed}
        return {"lens": lens, "source": lens.source, "shadowed": []}

    def lens(self, name: str, *, maker: str | None = None, camera: Camera | str | None = None,
             crop_factor: float | None = None) -> Lens:
        """The lens that best matches ``name``.

        An exact name or alias (case-insensitive) wins; otherwise lensfun's
        fuzzy word match scores every lens.  With a ``camera`` or
        ``crop_factor``, lenses calibrated on a larger crop factor than the
        camera's are passed over, as lensfun does.

        Raises
        ------
        NotFoundError
            (a ``LookupError``) listing the closest names.
        """
        if isinstance(camera, str):
            camera = self.camera(camera)
        crop = crop_factor if crop_factor is not None else (camera.crop_factor if camera else None)
        lenses = [lens for lens, _ in self._all_lenses()]

        def fits(lens: Lens) -> bool:
            if crop is not None and lens.profile is not None and crop < 0.96 * lens.profile.crop_factor:
                return False
            if maker and _key(lens.maker) != _key(maker):
                return False
            return True

        pool = [lens for lens in lenses if fits(lens)]
        full = f"{maker} {name}" if maker else name
        k = _key(full)
        exact = [lens for lens in pool
                 if k in {_key(lens.name), _key(f"{lens.maker} {lens.model}"), _key(lens.model)}
                 | {_key(a) for a in lens.aliases}]
        if exact:
            return self._prefer(exact, crop)
        scored = []
        for i, lens in enumerate(pool):
            s = max([match_score(name, lens.model), match_score(full, f"{lens.maker} {lens.model}")]
                    + [match_score(name, a) for a in lens.aliases])
            if s > 0:
                scored.append((s, -i, lens))
        if scored:
            top = max(s for s, _, _ in scored)
            return self._prefer([lens for s, _, lens in sorted(scored, reverse=True) if s == top], crop)
        raise NotFoundError("lens", full, _suggest(full, [lens.name for lens in lenses]))

    @staticmethod
    def _prefer(candidates: list[Lens], crop: float | None) -> Lens:
        """Among equally named lenses: calibrated first, then the calibration crop closest below the camera's."""

        def rank(lens: Lens):
            pc = lens.profile.crop_factor if lens.profile is not None else None
            crop_rank = 0.0 if crop is None or pc is None else abs((crop or 1) / pc - 1)
            return (not lens.calibrated, crop_rank)

        return min(candidates, key=rank)

    def identifiers(self) -> list[Identifier]:
        """The lens identifiers, in the order ``identify`` tries them."""

        def build():
            def check(plugin, ident):
                if not isinstance(ident, Identifier):
                    raise PluginError(plugin, f"expected a mountkit.Identifier, got {type(ident).__name__}")
                return ident

            got = self._collect("mountkit_register_identifiers", check)
            for plugin, ident in got:
                self._owners[id(ident)] = plugin
            return [i for _, i in sorted(got, key=lambda pi: pi[1].priority)]

        return self._cached("identifiers", build)

    def identify(self, metadata: Mapping[str, Any]) -> Lens | None:
        """The lens that took a frame, from its metadata (EXIF / maker-note tag names), or None."""
        for ident in self.identifiers():
            try:
                lens = ident.identify(metadata, self)
            except Exception as exc:  # one identifier failing must not stop the others
                self._reject(self._info_of(self._owners.get(id(ident))),
                             f"identifier {ident.name!r} raised {_describe(exc)}", exc=exc)
                continue
            if lens is not None:
                return lens
        return None

    # -- correction models, resamplers, formats, tools --------------------

    def models(self) -> dict[tuple[str, str], Any]:
        """Correction models by ``(kind, name)``."""

        def build():
            from .models import CorrectionModel

            def check(plugin, model):
                if not isinstance(model, CorrectionModel):
                    raise PluginError(plugin, f"expected a CorrectionModel instance, got {type(model).__name__}")
                model.check_declaration()
                return model

            result: dict[tuple[str, str], Any] = {}
            for plugin, m in self._collect("mountkit_register_correction_models", check):
                key = (m.kind, m.name)
                if key in result:
                    self._reject(self._info_of(plugin), f"model {m.kind}/{m.name} is already registered; ignored")
                    continue
                result[key] = m
            return result

        return self._cached("models", build)

    def model(self, kind: str, name: str):
        """The correction model ``name`` of ``kind``."""
        models = self.models()
        try:
            return models[(kind, name)]
        except KeyError:
            raise NotFoundError(f"{kind} model", name, [n for k, n in models if k == kind]) from None

    def resamplers(self) -> dict[str, Any]:
        """Resampling backends by name, default (lowest priority among available) first."""

        def build():
            from .resample import Resampler

            def check(plugin, r):
                if not isinstance(r, Resampler):
                    raise PluginError(plugin, f"expected a mountkit.resample.Resampler, got {type(r).__name__}")
                return r

            got = [r for _, r in self._collect("mountkit_register_resamplers", check)]
            return {r.name: r for r in sorted(got, key=lambda r: r.priority)}

        return self._cached("resamplers", build)

    def resampler(self, name: str | None = None):
        """A resampling backend by name, or the default one."""
        rs = self.resamplers()
        if name is None:
            for r in rs.values():
                if r.available():
                    return r
            raise NotFoundError("resampler", "(default)", list(rs))
        if name not in rs:
            raise NotFoundError("resampler", name, list(rs))
        return rs[name]

    def frame_formats(self) -> dict[str, Any]:
        """Frame readers/writers by name."""

        def build():
            from .io import FrameFormat

            def check(plugin, f):
                if not isinstance(f, FrameFormat):
                    raise PluginError(plugin, f"expected a mountkit.io.FrameFormat, got {type(f).__name__}")
                return f

            return {f.name: f for _, f in self._collect("mountkit_register_frame_formats", check)}

        return self._cached("frame_formats", build)

    def frame_tools(self) -> dict[str, Any]:
        """Frame tools (histogram, zebra, peaking...) by name."""

        def build():
            from .tools import FrameTool

            def check(plugin, t):
                if not isinstance(t, FrameTool):
                    raise PluginError(plugin, f"expected a mountkit.tools.FrameTool, got {type(t).__name__}")
                return t

            return {t.name: t for _, t in self._collect("mountkit_register_frame_tools", check)}

        return self._cached("frame_tools", build)

    def add_commands(self, cli) -> None:
        """Let plugins add subcommands to the root click group ``cli``."""
        self._collect("mountkit_register_commands", arg_name="cli", arg=cli)

    # -- corrections --------------------------------------------------------

    def corrector(self, lens: Lens | str, **options):
        """A :class:`mountkit.Corrector` for ``lens`` (see its documentation for the options)."""
        from .corrector import Corrector

        return Corrector(self, lens, **options)


