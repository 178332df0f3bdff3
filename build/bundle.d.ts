/** Types of build/bundle.js (plain JavaScript: it runs before anything is built, and from bin/ocslab.js). */
export declare const root: string;
export declare const bundleFile: string;
export declare const codeCacheFile: string;
/** Whether the bundle under `project` (default: this project) is newer than every source it was built from. */
export declare function isFresh(project?: string): boolean;
export declare function runBundle(): void;
export declare function build(): Promise<void>;
