// Compile-time checks of the frontend's types against the Go contract.
// contract.gen.ts is generated from the Go types (`make contract`); this file
// pairs each hand-written type of types.ts with its Go twin and fails
// `npm run check` when their JSON keys differ, or when Api and Go's UI do
// not have the same calls with the same number of arguments. The
// hand-written types stay: they narrow Go's strings to unions and document
// each field for the screens.

import type { Api } from './api';
import type * as Go from './contract.gen';
import type * as T from './types';

/** true when A and B are the same type. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** Compiles only when C is true. */
type Assert<C extends true> = C;
/** true when the hand-written H has exactly the JSON keys of Go's G. */
type SameKeys<H, G> = Same<keyof H, keyof G>;

/** Every hand-written shape against its Go twin. */
export type ContractKeys = [
  Assert<SameKeys<T.CheckOutcome, Go.CheckOutcome>>,
  Assert<SameKeys<T.SelfCheckResult, Go.SelfCheckResult>>,
  Assert<SameKeys<T.Change, Go.Change>>,
  Assert<SameKeys<T.Resolution, Go.Resolution>>,
  Assert<SameKeys<T.StoreRecord, Go.StoreRecord>>,
  Assert<SameKeys<T.Conflict, Go.Conflict>>,
  Assert<SameKeys<T.AppendItem, Go.ChangeResult>>,
  Assert<SameKeys<T.AppendResult, Go.AppendResult>>,
  Assert<SameKeys<T.MirrorEntry, Go.MirrorEntry>>,
  Assert<SameKeys<T.MirrorPage, Go.MirrorPage>>,
  Assert<SameKeys<T.RecordsPage, Go.RecordPage>>,
  Assert<SameKeys<T.Field, Go.Field>>,
  Assert<SameKeys<T.Collection, Go.Collection>>,
  Assert<SameKeys<T.Reference, Go.Reference>>,
  Assert<SameKeys<T.OptionsFrom, Go.OptionsFrom>>,
  Assert<SameKeys<T.DrillInfo, Go.DrillInfo>>,
  Assert<SameKeys<T.Info, Go.Info>>,
  Assert<SameKeys<T.Progress, Go.Progress>>,
  Assert<SameKeys<T.Status, Go.Status>>,
  Assert<SameKeys<T.Audit, Go.Audit>>,
  Assert<SameKeys<T.History, Go.History>>,
  Assert<SameKeys<T.PendingIDs, Go.PendingRecords>>,
  Assert<SameKeys<T.SyncReport, Go.Report>>,
  Assert<SameKeys<T.RefResult, Go.RefResult>>,
  Assert<SameKeys<T.RefRow, Go.RefRow>>,
  Assert<SameKeys<T.ReferencePage, Go.ReferencePage>>,
  Assert<SameKeys<T.ReferenceOptions, Go.ReferenceOptions>>,
  Assert<SameKeys<T.ConflictFilter, Go.ConflictFilter>>,
  Assert<SameKeys<T.ResolveChoice, Go.Choice>>,
  Assert<SameKeys<T.KeepBothResult, Go.KeepBothResult>>,
  Assert<SameKeys<T.RecordRef, Go.RecordRef>>,
  Assert<SameKeys<T.ResolveManyResult, Go.ResolveManyResult>>,
  Assert<SameKeys<T.ResolveManyResult['failed'][number], Go.ResolveFailure>>,
  Assert<SameKeys<T.SettingsValues, Go.Settings>>,
  Assert<SameKeys<T.Settings, Go.SettingsView>>,
  Assert<SameKeys<T.SetPasswordResult, Go.PasswordResult>>,
  Assert<SameKeys<T.Check, Go.Check>>,
  Assert<SameKeys<T.ScheduleText, Go.ScheduleText>>,
];

/** The Api methods that are calls of Go's UI (not events or App calls). */
type ApiCalls = Exclude<keyof Api, 'kind' | 'version' | `on${string}`>;
/** The number of arguments of an Api method. */
type Arity<F> = F extends (...args: infer P) => unknown ? P['length'] : never;

/** Api has one method per call of Go's UI, with as many arguments. */
export type ContractCalls = [
  Assert<Same<ApiCalls, Uncapitalize<keyof Go.UICalls>>>,
  Assert<
    Same<
      { [K in keyof Go.UICalls]: Arity<Api[Uncapitalize<K> & keyof Api]> },
      { [K in keyof Go.UICalls]: Go.UICalls[K]['args']['length'] }
    >
  >,
];
